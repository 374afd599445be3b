#!/usr/bin/env bash
# The cuda backend on a lent GPU machine, in one run of under 7 minutes:
# install Ember's wheels, compile the generated kernels in parallel into the disk cache, then smoke checks, benchmarks against PyTorch, the
# cuda tests, and ember-conformance --backend cuda (when it is installed).
# Each stage has its own timeout; a stage that fails or times out is logged
# and the next one runs. Everything lands in $OUT:
#   gpu_check.log  the whole log     bench.json  figures and ratios to PyTorch
#   smoke.json     correctness checks  stages.json  each stage's exit status and time
#   cuda.json / cuda.html  certificate and matrix from ember-conformance, when it is installed
#
#   usage (repository root, on the GPU machine): bash bench/gpu_check.sh [--backend cuda|rocm] [WHEEL_DIR]
#   WHEEL_DIR defaults to .whl (made here by bench/build_gpu_wheels.sh and carried).
#   EMBER_GPU_CHECK_ONLY="smoke bench conformance" runs only those stages (names as logged; "bench"
#   selects every bench_*); EMBER_GPU_CHECK_SECONDS (default 410) is the overall deadline.
set -u
cd "$(dirname "$0")/.."
# --backend cuda (the default) or rocm: an AMD GPU machine runs bench/gpu_check_rocm.sh, same stages and files
if [ "${1:-}" = "--backend" ]; then
  case "${2:-}" in
    cuda) shift 2 ;;
    rocm) shift 2; exec bash bench/gpu_check_rocm.sh "$@" ;;
    *) echo "usage: bash bench/gpu_check.sh [--backend cuda|rocm] [WHEEL_DIR]" >&2; exit 2 ;;
  esac
fi
WHL=${1:-.whl}
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
STAGES="$OUT/stages.json"
PY=${PYTHON:-python3}
SITE=/tmp/ember_site
T0=$(date +%s)
DEADLINE=$((T0 + ${EMBER_GPU_CHECK_SECONDS:-410}))   # leaves margin under 7 minutes
export PYTHONUNBUFFERED=1
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"
export EMBER_KERNEL_CACHE=${EMBER_KERNEL_CACHE:-/tmp/ember_kernel_cache}
export XLA_PYTHON_CLIENT_PREALLOCATE=false   # JAX (the DLPack check) must not take 75% of the GPU
if [ -z "${CUDA_HOME:-}" ]; then
  for d in /usr/local/cuda-13.0 /usr/local/cuda; do [ -d "$d" ] && export CUDA_HOME=$d && break; done
fi
echo "{" > "$STAGES"
rm -rf /tmp/ember_recorded

. bench/gpu_stages.sh   # log, stage

log "gpu_check $(date -u) on $(hostname)"
stage env 20 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; $PY -V; \
  $PY -c 'import torch, numpy; print(\"torch\", torch.__version__, \"numpy\", numpy.__version__)'; \
  $PY -m pip list 2>/dev/null | grep -i -E 'cuda|nvidia-cu(blas|da-nvrtc)|pluggy|ml.dtypes|cupy|^jax ' ; ls $WHL"
stage install 60 $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$WHL"/*.whl
stage info 30 $PY -m ember info
# Kernels: NVRTC costs ~0.16 s a program, and conformance asks for thousands of kernels. So a first pass
# runs the conformance cases in parallel shards with EMBER_CUDA_RECORD_KERNELS (nothing is compiled or
# launched; each kernel source asked for is written down), then warm compiles those and the generator's
# catalog in batches on every core, into the disk cache the real runs read.
record_shards() {
  local pids=() pat
  trap 'kill "${pids[@]}" 2>/dev/null' TERM INT
  for pat in 'op/[a]*' 'op/[b-c]*' 'op/[d-e]*' 'op/[f-h]*' 'op/[i-l]*' 'op/[m]*' 'op/[n-o]*' 'op/[p-r]*' \
             'op/[s]*' 'op/[t-z_]*' 'grad/*' 'runtime/*'; do
    EMBER_CUDA_RECORD_KERNELS=/tmp/ember_recorded $PY -m ember_conformance.cli --backend cuda -q -k "$pat" \
      > /dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  ls /tmp/ember_recorded | wc -l; cat /tmp/ember_recorded/*.jsonl 2>/dev/null | wc -l
}
if $PY -c "import ember_conformance" 2>/dev/null; then
  stage record 60 bash -c "$(declare -f record_shards); PY='$PY'; record_shards"
fi
stage warm 120 $PY -m ember_cuda.warm --sources /tmp/ember_recorded --batch 64
stage smoke 75 $PY bench/cuda_bench.py smoke --out "$OUT"
for b in host add sum gemm mlp mlp_amp; do
  stage "bench_$b" 60 $PY bench/cuda_bench.py bench --only $b --out "$OUT"
done
if $PY -c "import ember_conformance" 2>/dev/null; then
  # The edge semantics every backend must share (float -> narrow int casts, integer division by zero,
  # negative integer powers) first, in seconds, so that they are checked even if the full run is cut short.
  stage conformance_edges 90 $PY -m ember_conformance.cli --backend cuda -q \
    -k '*cast_wrap*' -k '*_wrap' -k '*zero_divisor*' -k '*zero_scalar*' -k '*negative_exponent*' \
    -k '*negative_scalar_exponent*'
  stage conformance 240 $PY -m ember_conformance.cli --backend cuda --report "$OUT" -q
else
  log "== conformance: ember_conformance is not installed; skipped"
fi
stage tests 60 $PY -m pytest -q -p no:cacheprovider tests/test_cuda_backend.py tests/test_cuda_dlpack.py
$PY bench/cuda_bench.py report --out "$OUT" | tee -a "$LOG"
echo "\"total_seconds\": $(( $(date +%s) - T0 ))}" >> "$STAGES"
log "gpu_check done in $(( $(date +%s) - T0 ))s"
