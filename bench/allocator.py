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
them alike), and the ratio ember/raw.

    python bench/allocator.py [--repeat 15] [--number 5000] [--json results.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import ember
from ember.runtime import allocator as A

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


def measure(fns, repeat, number):
    samples = {name: [] for name in fns}
    for fn in fns.values():
        fn(min(number, 100))  # warm up (the first ember call makes the segment)
    for _ in range(repeat):
        for name, fn in fns.items():  # interleaved: one sample of each method per round
            t = time.perf_counter()
            fn(number)
            samples[name].append((time.perf_counter() - t) / number * 1e6)
    return {name: statistics.median(v) for name, v in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=5000)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    mod = load_counting()
    dev = ember.device("counting:0")
    results = {}
    print(f"Ember caching allocator vs raw allocation, alloc+free per call (median of {args.repeat} interleaved "
          f"samples x {args.number} pairs)")
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(f"{'size':<22}{'ember us':>10}{'raw us':>10}{'numpy us':>10}{'ember/raw':>11}")
    for label, n in SIZES.items():
        r = measure(methods(mod, dev, n), args.repeat, args.number)
        r["ratio"] = r["ember"] / r["raw"]
        results[label] = r
        print(f"{label:<22}{r['ember']:>10.2f}{r['raw']:>10.2f}{r['numpy']:>10.2f}{r['ratio']:>11.2f}")
    s = ember.memory_stats(dev)
    print(f"cache hits {s['num_cache_hits']}, raw allocations {s['segment.all.allocated']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
