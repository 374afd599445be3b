"""Compile every HIP kernel ember_kernelgen can render for AMD GPU targets; fail naming the kernel that breaks.

    HIP_PLATFORM=amd python backends/rocm/tools/compile_all.py [--targets gfx90a,gfx1030,gfx942] [--jobs N]

Every kernel of the catalogue (ember_kernelgen.catalog: every family, operator, dtype and variant) is
rendered in HIP C. Kernels go many to a translation unit (unique names, one prelude), each unit is
compiled with ``hipcc --genco --offload-arch=<target>`` in parallel, and each code object must hold
every kernel's descriptor (``<name>.kd``). When a unit fails, it is split in halves until the failing
kernels are alone, and each is reported with the compiler's log. A target the installed compiler does
not know (gfx942 before ROCm 5.7) is skipped and said so. Needs no GPU: on Debian, ``apt-get install
hipcc libamdhip64-dev`` (without HIP_PLATFORM=amd, hipcc would call nvcc). Exit status 1 on a failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

DEFAULT_TARGETS = ("gfx90a", "gfx1030", "gfx942")
TIMEOUT = 900          # seconds for one translation unit


def hipcc() -> str | None:
    return os.environ.get("HIPCC") or shutil.which("hipcc")


def _env() -> dict:
    env = dict(os.environ)
    env["HIP_PLATFORM"] = "amd"
    return env


def compile_unit(source: str, target: str, workdir: str, tag: str, options=()) -> tuple:
    """(code object bytes or None, compiler log) for one translation unit."""
    src = os.path.join(workdir, f"{tag}.hip")
    out = os.path.join(workdir, f"{tag}.{target}.hsaco")
    with open(src, "w") as f:
        f.write(source)
    cmd = [hipcc(), "--genco", f"--offload-arch={target}", *options, src, "-o", out]
    try:
        p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT} s: {' '.join(cmd)}"
    log = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or not os.path.exists(out):
        return None, f"{' '.join(cmd)}\nexit {p.returncode}\n{log}"
    with open(out, "rb") as f:
        return f.read(), log


def target_known(target: str, workdir: str) -> str | None:
    """None when the compiler builds for ``target``, else its answer."""
    src = '#include <hip/hip_runtime.h>\nextern "C" __global__ void ek_probe(int* x) { x[threadIdx.x] = warpSize; }\n'
    code, log = compile_unit(src, target, workdir, "probe")
    return None if code and b"ek_probe.kd" in code else (log.splitlines() or ["no output"])[-1][:300]


def missing_kernels(code: bytes, descs) -> list:
    return [d.name for d in descs if (d.name + ".kd").encode() not in code]


def check_unit(descs, target, workdir, tag, options) -> list:
    """[(kernel name, log)] of the kernels that do not compile, bisecting a failed unit."""
    from ember_kernelgen.render import render_many
    code, log = compile_unit(render_many(descs, "hip"), target, workdir, tag, options)
    if code is not None:
        gone = missing_kernels(code, descs)
        return [(n, f"no kernel descriptor {n}.kd in the code object") for n in gone]
    if len(descs) == 1:
        return [(descs[0].name, log)]
    h = len(descs) // 2
    return (check_unit(descs[:h], target, workdir, tag + "a", options)
            + check_unit(descs[h:], target, workdir, tag + "b", options))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated gfx targets")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="compilers run at once")
    ap.add_argument("--per-unit", type=int, default=160, help="kernels per translation unit")
    ap.add_argument("--limit", type=int, default=0, help="only the first N kernels (a quick check)")
    ap.add_argument("--option", action="append", default=[], help="an extra hipcc option (repeatable)")
    args = ap.parse_args(argv)
    if hipcc() is None:
        print("hipcc not found: apt-get install hipcc libamdhip64-dev (or set HIPCC)", file=sys.stderr)
        return 2
    from ember_kernelgen.catalog import all_kernels
    kernels = list(all_kernels())
    if args.limit:
        kernels = kernels[: args.limit]
    names = [k.name for k in kernels]
    assert len(set(names)) == len(names), "kernel names must be unique in one translation unit"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ember-hip-") as work:
        targets = []
        for t in args.targets.split(","):
            why = target_known(t, work)
            if why is None:
                targets.append(t)
            else:
                print(f"== {t}: skipped, the installed compiler does not build for it ({why})")
        units = [kernels[i:i + args.per_unit] for i in range(0, len(kernels), args.per_unit)]
        jobs = [(u, t, f"u{i}_{t}") for t in targets for i, u in enumerate(units)]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = [pool.submit(check_unit, u, t, work, tag, args.option) for u, t, tag in jobs]
            failures = [(t, f) for (u, t, tag), fut in zip(jobs, futures) for f in fut.result()]
    dt = time.perf_counter() - t0
    for target, (name, log) in failures:
        print(f"FAILED {name} for {target}:\n{log}\n", file=sys.stderr)
    print(f"== {len(kernels)} HIP kernels x {len(targets)} targets ({', '.join(targets)}): "
          f"{len(kernels) * len(targets) - len(failures)} compiled, {len(failures)} failed, "
          f"{len(units) * len(targets)} translation units, {args.jobs} jobs, {dt:.0f} s")
    return 1 if failures or not targets else 0


if __name__ == "__main__":
    sys.exit(main())
