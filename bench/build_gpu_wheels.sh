#!/usr/bin/env bash
# Builds the wheels the GPU machine needs (it has no network) into one folder to carry there:
# Ember's own packages for Python 3.12 (ember-core, ember-cpu with its pybind11 extension,
# ember-kernelgen, ember-conformance and ember-cuda, those present in this checkout, and any folder
# named in EMBER_EXTRA_PACKAGES), plus any
# third-party wheel they require that the GPU machine's image lacks (normally none).
#
#   usage (repository root): bash bench/build_gpu_wheels.sh [OUT_DIR]      # default .whl
#   then carry OUT_DIR (it is git-ignored) and run: bash bench/gpu_check.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.whl}
PY312=${PY312:-/root/.pyenv/versions/3.12.1/bin/python}
"$PY312" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' || {
  echo "need Python 3.12 (set PY312=/path/to/python3.12)" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Each package is built from a copy, so that no build/ or egg-info is left in a source tree.
i=0
for pkg in . backends/cpu backends/kernelgen conformance backends/cuda ${EMBER_EXTRA_PACKAGES:-}; do
  if [ -f "$pkg/pyproject.toml" ]; then
    echo "== wheel of $pkg"
    i=$((i + 1))
    mkdir -p "$TMP/$i"
    if [ "$pkg" = . ]; then
      cp -r pyproject.toml setup.py README.md core "$TMP/$i/"
    else
      (cd "$pkg" && tar --exclude=build --exclude='*.egg-info' --exclude=__pycache__ --exclude='*.so' -cf - .) \
        | (cd "$TMP/$i" && tar -xf -)
    fi
    "$PY312" -m pip wheel -q --no-deps -w "$OUT" "$TMP/$i"
  fi
done

# Third-party requirements the GPU machine lacks (its image's package list, as documented for it).
PRESENT="numpy ml-dtypes pluggy pybind11 hypothesis pytest rich jinja2 safetensors cuda-bindings cuda-pathfinder
cuda-core nvidia-cuda-nvrtc nvidia-cublas nvidia-cuda-runtime torch cupy-cuda13x jax jaxlib setuptools wheel
packaging typing-extensions tomli markdown-it-py mdurl pygments sortedcontainers attrs"
MISSING=$("$PY312" - "$OUT" "$PRESENT" <<'PY'
import sys, zipfile, glob, re
from pip._vendor.packaging.requirements import Requirement
out, present = sys.argv[1], set(re.split(r"\s+", sys.argv[2].strip()))
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
ours, reqs = set(), set()
for w in glob.glob(f"{out}/*.whl"):
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    ours.add(norm(re.search(r"^Name: (.+)$", text, re.M).group(1)))
    for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        r = Requirement(line)
        if r.marker is None or r.marker.evaluate({"python_version": "3.12", "extra": ""}):
            reqs.add(norm(r.name))
missing = reqs - ours - {norm(p) for p in present}
for name in sorted(n for n in missing if n.startswith("ember-")):
    print(f"warning: {name} is required but not built from this checkout", file=sys.stderr)
print(" ".join(sorted(n for n in missing if not n.startswith("ember-"))))
PY
)
if [ -n "$MISSING" ]; then
  echo "== third-party wheels the GPU machine lacks: $MISSING"
  "$PY312" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$OUT" $MISSING
fi
ls -la "$OUT"
du -sh "$OUT"
