"""Linear algebra (and, later, Fourier transforms) on Ember's cpu backend vs PyTorch CPU, float32.

Each case is one call on fixed inputs, run by both libraries in turn (``--repeat`` samples of
``--number`` calls each, interleaved so that a busy machine slows both alike); each row prints the
two medians and ratio = median(Ember) / median(PyTorch) (lower is better for Ember; the goal is
<= 1.5x). Results are checked against PyTorch's first. Both libraries run on ``--threads``
threads (default 1): the BLAS/LAPACK of numpy and of scipy (each has its own OpenBLAS; Ember's
cpu backend calls both, so scipy's is loaded before the threads are pinned) and PyTorch's pool.

    python bench/linalg_fft.py [--repeat 7] [--number 3] [--threads 1] [--n 512] [--only solve,svd] [--json out.json]

A case is ``Case(name, make, ember_fn, torch_fn, check)``: ``make(rng, n)`` returns numpy inputs,
the two functions take the library's tensors, ``check(ember_out, torch_out)`` compares them.
"""

from __future__ import annotations

import argparse
import json
from collections import namedtuple

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line

ember = None   # imported by main() once the threads are pinned

Case = namedtuple("Case", ["name", "make", "ember_fn", "torch_fn", "check"])


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else x.numpy()


def _allclose(tol):
    def check(e, t):
        np.testing.assert_allclose(_np(e), _np(t), rtol=tol, atol=tol)
    return check


def _general(rng, n):
    return [(rng.standard_normal((n, n)) + n ** 0.5 * np.eye(n)).astype(np.float32),
            rng.standard_normal((n, 8)).astype(np.float32)]


def _symmetric(rng, n):
    x = rng.standard_normal((n, n))
    return [((x + x.T) / 2).astype(np.float32)]


def _matrix(rng, n):
    return [rng.standard_normal((n, n)).astype(np.float32)]


def _signal(rng, n):
    return [rng.standard_normal(1 << 20).astype(np.float32)]  # 2**20 points, whatever --n says


CASES = [
    Case("solve", _general, lambda a, b: ember.linalg.solve(a, b), lambda a, b: TORCH.linalg.solve(a, b),
         _allclose(2e-3)),
    Case("svd", _matrix, lambda a: ember.linalg.svd(a), lambda a: TORCH.linalg.svd(a),
         lambda e, t: _allclose(2e-3)(e.S, t.S)),
    Case("eigh", _symmetric, lambda a: ember.linalg.eigh(a), lambda a: TORCH.linalg.eigh(a),
         lambda e, t: _allclose(2e-3)(e.eigenvalues, t.eigenvalues)),
    Case("rfft_2^20", _signal, lambda x: ember.fft.rfft(x), lambda x: TORCH.fft.rfft(x),
         lambda e, t: np.testing.assert_allclose(_np(e), _np(t), rtol=1e-3, atol=0.05)),
]

TORCH = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="samples per library (the median is reported)")
    ap.add_argument("--number", type=int, default=3, help="calls per sample")
    ap.add_argument("--n", type=int, default=512, help="matrix size n (n x n)")
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    add_threads_option(ap)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args(argv)
    try:
        import scipy.linalg  # noqa: F401  (its OpenBLAS must be loaded for the thread limit to cover it)
    except ImportError:
        pass
    torch = pin_threads(args.threads, torch=True)
    if torch is None:
        raise SystemExit("bench/linalg_fft.py compares with PyTorch: python -m pip install torch")
    global ember, TORCH
    import ember
    TORCH = torch
    only = {s for s in args.only.split(",") if s}
    cases = [c for c in CASES if not only or c.name in only]
    rng = np.random.default_rng(0)
    print(f"ember cpu vs torch cpu, float32, n = {args.n} (median of {args.repeat} x {args.number} calls, "
          f"interleaved); {threads_line()}")
    print(f"{'case':<10}{'ember ms':>12}{'torch ms':>12}{'ratio':>10}")
    rows = []
    for c in cases:
        data = c.make(rng, args.n)
        ea = [ember.tensor(x) for x in data]
        ta = [torch.tensor(x) for x in data]
        c.check(c.ember_fn(*ea), c.torch_fn(*ta))
        med = medians(interleave({"ember": lambda: c.ember_fn(*ea), "torch": lambda: c.torch_fn(*ta)},
                                 args.repeat, args.number))
        e_ms, t_ms = med["ember"] * 1e3, med["torch"] * 1e3
        r = ratio(e_ms, t_ms)
        rows.append({"case": c.name, "ember_ms": e_ms, "torch_ms": t_ms, "ratio": r})
        print(f"{c.name:<10}{fmt(e_ms):>12}{fmt(t_ms):>12}{fmt_ratio(r):>10}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "threads": args.threads, "threads_detail": threads_line(), "results": rows},
                      f, indent=2)


if __name__ == "__main__":
    main()
