"""Compile the generator's kernels ahead of use, in parallel processes, into the disk cache.

    python -m ember_cuda.warm [--arch sm_90] [--jobs N] [--limit N]

NVRTC needs no GPU; each kernel is compiled exactly as the backend would compile it on first use
(the same source and options), so later runs only load the cached binaries. The architecture
defaults to device 0's, else sm_90.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time


def _detect_arch() -> str:
    try:
        from . import driver
        drv, _ = driver.probe()
        if drv is not None and drv.count:
            return drv.device(0).arch
    except Exception:  # noqa: BLE001
        pass
    return "sm_90"


def _compile(job):
    source, arch = job
    from . import compiler
    try:
        compiler.cached_binary(source, arch, ())
        return None
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {str(e)[:400]}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default=None)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--limit", type=int, default=None, help="only the first N kernels")
    a = p.parse_args(argv)
    from ember_kernelgen.catalog import all_kernels
    from ember_kernelgen.render import render
    from . import compiler
    arch = a.arch or _detect_arch()
    kernels = list(all_kernels())[: a.limit]
    c = compiler.cache()
    target = f"{arch}/nvrtc{'.'.join(map(str, compiler.nvrtc_version()))}"
    todo = []
    for k in kernels:
        src = render(k, "cuda")
        if c.get("cuda", target, src, ()) is None:
            todo.append((src, arch))
    t0 = time.perf_counter()
    errors = []
    if todo:
        ctx = mp.get_context("spawn")
        with ctx.Pool(max(1, min(a.jobs, len(todo)))) as pool:
            for err in pool.imap_unordered(_compile, todo, chunksize=4):
                if err:
                    errors.append(err)
    print(f"ember_cuda.warm: {len(kernels)} kernels for {arch}, {len(todo)} compiled in "
          f"{time.perf_counter() - t0:.1f}s with {a.jobs} processes, {len(errors)} failed; cache {c.dir}")
    for e in errors[:10]:
        print("  ", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
