"""The caching allocator's alloc+free time per call, beside the backend's raw allocation.

Runs on the "counting" test backend (tests/fixtures/plugins/counting): its
``raw_alloc``/``raw_free`` carve a numpy arena first-fit, a cheap stand-in for
a driver allocation (cudaMalloc and friends cost microseconds to
milliseconds, and may synchronize the device). For each size the table shows
the median time per alloc+free pair of

- ``ember``: ``ember.runtime.allocate(device, n)`` then dropping the
  Allocation (a cache hit after the first call: lock, best-fit lookup, split,
  stats, Allocation object, return to the pool on garbage collection);
- ``raw``: ``runtime.raw_alloc(segment, 0)`` then ``runtime.raw_free``;
- ``numpy``: ``np.empty(n, np.uint8)`` (host memory, for scale),

from interleaved samples (each sample times ``--number`` pairs of one
method; the methods take turns for ``--repeat`` rounds, so machine noise hits
them alike), and the ratio ember/raw = median(ember) / median(raw) of the two
columns beside it. A last line times ember alone on
patterns beyond one size (see ``workloads``).

On a shared, loaded machine wall-clock samples include time spent waiting for
a core: use many short samples (``--number 200 --repeat 201``, the default), whose median
is mostly unpreempted, or ``--timer cpu`` (this process's CPU time, which
waiting does not count) for figures close to an idle machine's.

    python bench/allocator.py [--repeat 201] [--number 200] [--timer wall|cpu] [--threads 1] [--json results.json]

``--threads`` (default 1) pins numpy's thread pools like every benchmark here; nothing in this one
starts a thread.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

import ember
from ember.runtime import allocator as A

from _common import add_threads_option, fmt, interleave, medians, pin_threads, ratio, threads_line

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"4 KiB (small pool)": 4 << 10, "256 KiB (small pool)": 256 << 10, "4 MiB (large pool)": 4 << 20}


def load_counting():
    path = ROOT / "tests" / "fixtures" / "plugins" / "counting" / "ember_counting.py"
    spec = importlib.util.spec_from_file_location("ember_counting", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ember_counting"] = mod
    spec.loader.exec_module(mod)
    rec = ember.plugins.register_plugin(mod, name="counting")
    if rec.status != "loaded":
        raise SystemExit(f"could not register the counting backend: {rec.error}")
    return mod


def methods(mod, dev, nbytes):
    rt = mod.runtime
    seg = A._segment_size(A._round(nbytes))
    allocate = A.allocate
    stream = ember.current_stream(dev)
    empty = np.empty
    u8 = np.uint8

    def ember_pair(k):
        for _ in range(k):
            a = allocate(dev, nbytes, stream)
            del a

    def raw_pair(k):
        ra, rf = rt.raw_alloc, rt.raw_free
        for _ in range(k):
            h = ra(seg, 0)
            rf(h, 0)

    def numpy_pair(k):
        for _ in range(k):
            a = empty(nbytes, u8)
            del a

    return {"ember": ember_pair, "raw": raw_pair, "numpy": numpy_pair}


def workloads(dev):
    """Patterns beyond one size, ember only, time per allocator call (an allocation or a free):

    - ``no stream``: one size, ``allocate(dev, n)`` (the current stream looked up, as backends call it);
    - ``8 sizes``: a loop that allocates eight sizes (both pools) then frees them, as a training step does;
    - ``random``: uniformly random sizes from 18 size classes, at most 13 live, random frees (few exact
      repeats: the worst case for exact-size reuse).
    """
    allocate = A.allocate
    stream = ember.current_stream(dev)
    steady_sizes = [512, 4096, 65536, 300_000, 1 << 20, 3 << 20, 8192, 128 << 10]
    rng = random.Random(0)
    mixed_sizes = [512, 4096, 65536, 300_000, 1 << 20, 3 << 20]
    plan = []
    live = 0
    for _ in range(20_000):                       # a fixed sequence of ("alloc", size) / ("free", index)
        if live and (rng.random() < 0.5 or live > 12):
            plan.append((False, rng.randrange(live)))
            live -= 1
        else:
            plan.append((True, rng.choice(mixed_sizes) + rng.randrange(3) * 512))
            live += 1

    def no_stream(k):
        for _ in range(k // 2):
            a = allocate(dev, 4096)
            del a

    def steady(k):
        for _ in range(k // 16):
            live = [allocate(dev, n, stream) for n in steady_sizes]
            live.clear()

    state = {"i": 0, "live": []}

    def mixed(k):
        i, live = state["i"], state["live"]
        for _ in range(k):
            is_alloc, x = plan[i]
            if is_alloc:
                live.append(allocate(dev, x, stream))
            else:
                live.pop(x)
            i += 1
            if i == len(plan):
                i = 0
                live.clear()
        state["i"] = i

    return {"no stream": no_stream, "8 sizes": steady, "random": mixed}


def measure(fns, repeat, number, clock=time.perf_counter):
    for fn in fns.values():
        fn(min(number, 100))  # warm up (the first ember call makes the segment)
    # Each function makes `number` calls itself (its loop has its locals bound), once per sample.
    samples = interleave({name: (lambda fn=fn: fn(number)) for name, fn in fns.items()}, repeat, clock=clock)
    return {name: m / number * 1e6 for name, m in medians(samples).items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=201)
    ap.add_argument("--number", type=int, default=200)
    ap.add_argument("--timer", choices=("wall", "cpu"), default="wall",
                    help="wall: time.perf_counter; cpu: time.process_time (ignores time spent waiting for a core)")
    ap.add_argument("--json", help="also write the results to this file")
    add_threads_option(ap)
    args = ap.parse_args(argv)
    pin_threads(args.threads)
    clock = time.process_time if args.timer == "cpu" else time.perf_counter
    mod = load_counting()
    dev = ember.device("counting:0")
    results = {}
    print(f"Ember caching allocator vs raw allocation, alloc+free per call (median of {args.repeat} interleaved "
          f"samples x {args.number} pairs, {args.timer} time)")
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}; {threads_line()}")
    print(f"{'size':<22}{'ember us':>10}{'raw us':>10}{'numpy us':>10}{'ember/raw':>11}")
    for label, n in SIZES.items():
        r = measure(methods(mod, dev, n), args.repeat, args.number, clock)
        r["ratio"] = ratio(r["ember"], r["raw"])
        results[label] = r
        print(f"{label:<22}{fmt(r['ember']):>10}{fmt(r['raw']):>10}{fmt(r['numpy']):>10}{r['ratio']:>11.2f}")
    w = measure(workloads(dev), args.repeat, args.number, clock)
    results["workloads"] = w
    print("ember us per call (an allocation or a free): " + ", ".join(f"{k} {fmt(v)}" for k, v in w.items()))
    s = ember.memory_stats(dev)
    print(f"cache hits {s['num_cache_hits']}, raw allocations {s['segment.all.allocated']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
