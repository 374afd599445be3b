#!/usr/bin/env bash
# The rocm backend on an AMD GPU machine, in one run: install Ember's wheels, then smoke checks against
# numpy, benchmarks against PyTorch's ROCm build (when installed), the rocm tests, and
# ember-conformance --backend rocm (when installed), whose certificate is what plugins.toml's
# certified_tier for rocm waits on. Same stage machinery and files as bench/gpu_check.sh:
#   gpu_check.log  smoke.json  bench.json  stages.json  rocm.json / rocm.html (the certificate)
#
#   usage (repository root): bash bench/gpu_check.sh --backend rocm [WHEEL_DIR]
#   WHEEL_DIR (default .whl): EMBER_EXTRA_PACKAGES=backends/rocm bash bench/build_gpu_wheels.sh, which
#   also downloads hip-python; pin the hip-python matching the machine's ROCm (pip install "hip-python~=6.4.0").
#   Kernels compile with hiprtc at first use, a family per program, into $EMBER_KERNEL_CACHE: a second
#   run on the same machine compiles nothing. EMBER_GPU_CHECK_SECONDS (default 900) is the deadline.
set -u
cd "$(dirname "$0")/.."
WHL=${1:-.whl}
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
STAGES="$OUT/stages.json"
PY=${PYTHON:-python3}
SITE=/tmp/ember_site
T0=$(date +%s)
DEADLINE=$((T0 + ${EMBER_GPU_CHECK_SECONDS:-900}))
export PYTHONUNBUFFERED=1
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"
export EMBER_KERNEL_CACHE=${EMBER_KERNEL_CACHE:-/tmp/ember_kernel_cache}
echo "{" > "$STAGES"
. bench/gpu_stages.sh   # log, stage

log "gpu_check --backend rocm $(date -u) on $(hostname)"
stage env 20 bash -c "(rocm-smi --showproductname --showmeminfo vram || rocminfo | grep -E 'Marketing|gfx' | sort -u); \
  $PY -V; $PY -c 'import torch; print(\"torch\", torch.__version__, \"hip\", torch.version.hip)'; \
  $PY -m pip list 2>/dev/null | grep -i -E 'hip|rocm|numpy|pluggy|ml.dtypes'; ls $WHL"
if ls "$WHL"/*.whl >/dev/null 2>&1; then
  stage install 60 $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHL"/*.whl
fi
stage info 30 $PY -m ember info
stage smoke 300 $PY bench/rocm_bench.py smoke --out "$OUT"
stage bench 180 $PY bench/rocm_bench.py bench --out "$OUT"
stage tests 120 $PY -m pytest -q -p no:cacheprovider tests/test_rocm_backend.py tests/test_rocm_compile.py
if $PY -c "import ember_conformance" 2>/dev/null; then
  stage conformance_edges 120 $PY -m ember_conformance.cli --backend rocm -q \
    -k '*cast_wrap*' -k '*_wrap' -k '*zero_divisor*' -k '*zero_scalar*' -k '*negative_exponent*' \
    -k '*negative_scalar_exponent*'
  stage conformance 600 $PY -m ember_conformance.cli --backend rocm --report "$OUT" -q
else
  log "== conformance: ember_conformance is not installed; skipped"
fi
echo "\"total_seconds\": $(( $(date +%s) - T0 ))}" >> "$STAGES"
log "gpu_check --backend rocm done in $(( $(date +%s) - T0 ))s"
