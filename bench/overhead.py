"""Host overhead per operator call on small tensors (4x4 float32): Ember cpu vs PyTorch CPU vs numpy.

On tensors this small the arithmetic is free, so the time per call is the
cost of getting from Python to the kernel and back: argument binding,
dispatch, meta checks, allocation. Each op is timed in ``--repeat`` samples
of ``--number`` calls (garbage collection off during a sample, as in timeit);
the samples of the three libraries are interleaved, so that a change in the
machine's load hits all of them alike. The table shows each library's median
time per call in microseconds, and the ratio

    ember/torch = median(Ember) / median(PyTorch)

of the two medians printed beside it (lower is better for Ember). The ``grad``
columns time the same calls on tensors that require grad, so each call also
records its node on the autograd tape (the in-place row is n/a there: a leaf
that requires grad cannot be written in place); they are timed in the same
interleaved rounds as the others. An operator
Ember does not have yet shows as "n/a". Every library runs on ``--threads``
threads (default 1; on 4x4 tensors none of them starts a second one).

    python bench/overhead.py [--repeat 7] [--number 20000] [--threads 1] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line

ember = torch = None   # imported by main() once the threads are pinned (torch is optional: its column is then n/a)

SHAPE = (4, 4)


def _cases(ex, ey, tx, ty, nx, ny):
    """op name -> {library: zero-argument callable, or None where the op is missing}."""
    has = lambda name: hasattr(ember, name)  # noqa: E731
    index = hasattr(ember.Tensor, "__getitem__")
    t = torch is not None
    ev, tv, nv = ey[0], (ty[0] if t else None), ny[0]   # a row: broadcast operand and bias
    EF, TF = ember.nn.functional, (torch.nn.functional if t else None)
    # the in-place row writes its own copies: the other rows keep their values (exp of what 10^5 additions
    # made of them would time numpy's overflow handling)
    ix, nix = ex.detach().clone(), nx.copy()
    tix = tx.detach().clone() if t else None
    return {
        "add": {"ember": lambda: ember.add(ex, ey), "torch": t and (lambda: torch.add(tx, ty)),
                "numpy": lambda: np.add(nx, ny)},
        "mul": {"ember": lambda: ember.mul(ex, ey), "torch": t and (lambda: torch.mul(tx, ty)),
                "numpy": lambda: np.multiply(nx, ny)},
        "sum": {"ember": has("sum") and (lambda: ember.sum(ex)), "torch": t and (lambda: torch.sum(tx)),
                "numpy": lambda: np.sum(nx)},
        "matmul": {"ember": has("matmul") and (lambda: ember.matmul(ex, ey)),
                   "torch": t and (lambda: torch.matmul(tx, ty)), "numpy": lambda: np.matmul(nx, ny)},
        "add_ (in-place)": {"ember": lambda: ix.add_(ey), "torch": t and (lambda: tix.add_(ty)),
                            "numpy": lambda: np.add(nix, ny, out=nix)},
        "transpose (view)": {"ember": lambda: ex.transpose(0, 1), "torch": t and (lambda: tx.transpose(0, 1)),
                             "numpy": lambda: nx.swapaxes(0, 1)},
        "x[1] (index)": {"ember": index and (lambda: ex[1]), "torch": t and (lambda: tx[1]),
                         "numpy": lambda: nx[1]},
        "add (broadcast)": {"ember": lambda: ember.add(ex, ev), "torch": t and (lambda: torch.add(tx, tv)),
                            "numpy": lambda: np.add(nx, nv)},
        "mul (scalar)": {"ember": lambda: ex * 2.0, "torch": t and (lambda: tx * 2.0), "numpy": lambda: nx * 2.0},
        "exp": {"ember": lambda: ex.exp(), "torch": t and (lambda: tx.exp()), "numpy": lambda: np.exp(nx)},
        "relu": {"ember": lambda: EF.relu(ex), "torch": t and (lambda: TF.relu(tx)),
                 "numpy": lambda: np.maximum(nx, 0)},
        "mean": {"ember": lambda: ex.mean(), "torch": t and (lambda: tx.mean()), "numpy": lambda: np.mean(nx)},
        "max": {"ember": lambda: ex.max(), "torch": t and (lambda: tx.max()), "numpy": lambda: np.max(nx)},
        "sum(1)": {"ember": lambda: ex.sum(1), "torch": t and (lambda: tx.sum(1)), "numpy": lambda: nx.sum(1)},
        "mean(0)": {"ember": lambda: ex.mean(0), "torch": t and (lambda: tx.mean(0)), "numpy": lambda: nx.mean(0)},
        "max(1)": {"ember": lambda: ex.max(1), "torch": t and (lambda: tx.max(1)),
                   "numpy": lambda: (nx.max(1), nx.argmax(1))},
        "linear": {"ember": lambda: EF.linear(ex, ey, ev), "torch": t and (lambda: TF.linear(tx, ty, tv)),
                   "numpy": lambda: np.add(np.matmul(nx, ny.T), nv)},
        "view": {"ember": lambda: ex.view(16), "torch": t and (lambda: tx.view(16)),
                 "numpy": lambda: nx.reshape(16)},
        "x.t()": {"ember": lambda: ex.t(), "torch": t and (lambda: tx.t()), "numpy": lambda: nx.T},
    }


def _check(fn):
    """None when fn runs (and is warmed up), else why not."""
    if not fn:
        return "not available"
    try:
        fn()
    except Exception as e:  # noqa: BLE001  (an op that fails is reported, the rest still run)
        return f"{type(e).__name__}: {e}"
    return None


def _tensors(nx, ny, requires_grad):
    ex = ember.tensor(nx, device="cpu", requires_grad=requires_grad)
    ey = ember.tensor(ny, device="cpu", requires_grad=requires_grad)
    if torch is None:
        return ex, ey, None, None
    return (ex, ey, torch.tensor(nx, requires_grad=requires_grad), torch.tensor(ny, requires_grad=requires_grad))


def run(repeat: int, number: int) -> dict:
    rng = np.random.default_rng(0)
    nx = rng.standard_normal(SHAPE, dtype=np.float32)
    ny = rng.standard_normal(SHAPE, dtype=np.float32)
    plain = _cases(*_tensors(nx, ny, False), nx, ny)
    graded = _cases(*_tensors(nx, ny, True), nx, ny)
    results = []
    cols = ("ember", "torch", "numpy", "ember_grad", "torch_grad")
    for op, fns in plain.items():
        fns = {**fns, "ember_grad": graded[op]["ember"], "torch_grad": graded[op]["torch"]}
        if "in-place" in op:
            fns["ember_grad"] = fns["torch_grad"] = None
        row = {"op": op}
        notes = {c: _check(fns[c]) for c in cols}
        runnable = {c: fns[c] for c in cols if notes[c] is None}
        med = medians(interleave(runnable, repeat, number, gc_off=True))
        for c in cols:
            row[f"{c}_us"] = med[c] * 1e6 if c in med else None
            if notes[c]:
                row[f"{c}_note"] = notes[c]
        # The ratio of the two medians in this row (not a median of per-round ratios).
        row["ember_over_torch"] = ratio(row["ember_us"], row["torch_us"])
        row["grad_ember_over_torch"] = ratio(row["ember_grad_us"], row["torch_grad_us"])
        results.append(row)
    return {
        "shape": list(SHAPE), "dtype": "float32", "repeat": repeat, "number": number, "threads": threads_line(),
        "versions": {"ember": ember.__version__, "torch": torch.__version__ if torch else None,
                     "numpy": np.__version__, "python": platform.python_version()},
        "machine": platform.machine(), "processor": platform.processor() or platform.platform(),
        "results": results,
    }


def table(report: dict) -> str:
    v = report["versions"]
    lines = [f"host time per call, median of {report['repeat']} x {report['number']} calls, "
             f"{'x'.join(map(str, report['shape']))} {report['dtype']} on cpu",
             f"ember {v['ember']}, torch {v['torch'] or 'not installed'}, numpy {v['numpy']}, "
             f"python {v['python']}; {report['threads']}",
             "ember/torch = median ember us / median torch us, from the two columns; "
             "grad: the same calls on tensors that require grad (recording the autograd tape)", ""]
    head = (f"{'op':<18}{'ember us':>10}{'torch us':>10}{'numpy us':>10}{'ember/torch':>13}"
            f"{'grad ember':>12}{'grad torch':>12}{'ember/torch':>13}")
    lines += [head, "-" * len(head)]
    for r in report["results"]:
        lines.append(f"{r['op']:<18}{fmt(r['ember_us']):>10}{fmt(r['torch_us']):>10}"
                     f"{fmt(r['numpy_us']):>10}{fmt_ratio(r['ember_over_torch']):>13}"
                     f"{fmt(r['ember_grad_us']):>12}{fmt(r['torch_grad_us']):>12}"
                     f"{fmt_ratio(r['grad_ember_over_torch']):>13}")
    notes = [f"  {r['op']}: ember {r['ember_note']}" for r in report["results"]
             if r.get("ember_note") and r["ember_note"] != "not available"]
    if notes:
        lines += ["", "failures:", *notes]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7, help="timing samples per op (the median is reported)")
    p.add_argument("--number", type=int, default=20000, help="calls per sample")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    add_threads_option(p)
    args = p.parse_args(argv)
    if args.repeat < 1 or args.number < 1:
        p.error("--repeat and --number must be positive")
    global ember, torch
    torch = pin_threads(args.threads, torch=True)
    import ember
    report = run(args.repeat, args.number)
    print(table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
