"""Compile kernels ahead of use, in batches and in parallel processes, into the disk cache.

    python -m ember_cuda.warm [--sources DIR ...] [--no-catalog] [--arch sm_90] [--jobs N] [--batch 48]

Which kernels: the generator's catalog (every kind of kernel it emits, at representative ranks) and
the sources recorded under DIR by a run with EMBER_CUDA_RECORD_KERNELS=DIR (exactly what that run
asked for). NVRTC's cost is mostly per program, so kernels are compiled many to a program: their
bodies, each in a namespace of its own, after one shared prelude; the cubin holding them all is
stored under each kernel's own cache key, and loads once per process. A batch that does not compile
is compiled one kernel at a time. NVRTC needs no GPU; the architecture defaults to device 0's, else
sm_90.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing as mp
import os
import sys
import time

MARK = "/* -- end of prelude -- */\n"   # ember_kernelgen.dialects.PRELUDE_END


def _detect_arch() -> str:
    try:
        from . import driver
        drv, _ = driver.probe()
        if drv is not None and drv.count:
            return drv.device(0).arch
    except Exception:  # noqa: BLE001
        pass
    return "sm_90"


def batch_source(sources) -> str | None:
    """One program holding every source's kernel (their preludes must be the same text), or None."""
    preludes = set()
    bodies = []
    for s in sources:
        head, sep, body = s.partition(MARK)
        if not sep:
            return None
        preludes.add(head)
        bodies.append(body)
    if len(preludes) != 1:
        return None
    return preludes.pop() + MARK + "".join(f"namespace ek_batch_{i} {{\n{b}}}\n" for i, b in enumerate(bodies))


def _compile_batch(job):
    """Worker: compile a batch and store the binary under each member's key; returns (done, errors)."""
    sources, arch, options = job
    from . import compiler
    c = compiler.cache()
    target = compiler.cache_target(arch)
    errors = []
    src = batch_source(sources) if len(sources) > 1 else None
    if src is not None:
        try:
            binary = compiler.compile_source(src, arch, options, name="ember_batch.cu")
            for s in sources:
                c.put("cuda", target, s, tuple(options), binary)
            return len(sources), errors
        except Exception:  # noqa: BLE001  (one bad kernel: compile them one by one)
            pass
    done = 0
    for s in sources:
        try:
            c.put("cuda", target, s, tuple(options), compiler.compile_source(s, arch, options))
            done += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {str(e)[:300]}")
    return done, errors


def recorded_sources(dirs):
    """{(source, options)} recorded by EMBER_CUDA_RECORD_KERNELS runs under ``dirs``."""
    out = {}
    for d in dirs:
        for path in glob.glob(os.path.join(d, "*.jsonl")):
            with open(path) as f:
                for line in f:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue   # a line cut short by a killed process
                    out[(r["source"], tuple(r.get("options", ())))] = None
    return list(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default=None)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batch", type=int, default=48, help="kernels per NVRTC program")
    p.add_argument("--sources", action="append", default=[], metavar="DIR",
                   help="also compile the sources recorded under DIR (EMBER_CUDA_RECORD_KERNELS=DIR)")
    p.add_argument("--no-catalog", action="store_true", help="only the recorded sources")
    p.add_argument("--limit", type=int, default=None, help="at most N kernels (a quick check)")
    a = p.parse_args(argv)
    from . import compiler
    arch = a.arch or _detect_arch()
    t0 = time.perf_counter()
    wanted = recorded_sources(a.sources)
    n_recorded = len(wanted)
    if not a.no_catalog:
        try:
            from ember_kernelgen.catalog import all_kernels
            from ember_kernelgen.render import render
            wanted += [(render(k, "cuda"), ()) for k in all_kernels()]
        except Exception as e:  # noqa: BLE001
            print(f"ember_cuda.warm: no generator catalog ({e})")
    wanted = list(dict.fromkeys(wanted))[: a.limit]
    c = compiler.cache()
    target = compiler.cache_target(arch)
    todo: dict = {}
    for src, opts in wanted:
        if c.get("cuda", target, src, opts) is None:
            head = src.partition(MARK)[0]
            todo.setdefault((head, opts), []).append(src)
    jobs = []
    for (head, opts), srcs in todo.items():
        for i in range(0, len(srcs), a.batch):
            jobs.append((srcs[i:i + a.batch], arch, opts))
    n_todo = sum(len(j[0]) for j in jobs)
    done, errors = 0, []
    if jobs:
        ctx = mp.get_context("spawn")
        with ctx.Pool(max(1, min(a.jobs, len(jobs)))) as pool:
            for d, errs in pool.imap_unordered(_compile_batch, jobs):
                done += d
                errors += errs
    print(f"ember_cuda.warm: {len(wanted)} kernels for {arch} ({n_recorded} recorded), {n_todo} not cached, "
          f"{done} compiled in {len(jobs)} programs in {time.perf_counter() - t0:.1f}s with {a.jobs} processes, "
          f"{len(errors)} failed; cache {c.dir}")
    for e in errors[:10]:
        print("  ", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
