"""Ember's rocm backend on a real AMD GPU: a smoke check against numpy, and benchmarks against PyTorch.

    python bench/rocm_bench.py smoke [--out DIR]     # correctness of the main paths -> DIR/smoke.json
    python bench/rocm_bench.py bench [--out DIR]     # figures (and ratios to PyTorch's ROCm build) -> DIR/bench.json

Each check and measure runs on its own: a failure is recorded with its traceback and the next one runs;
results are written after each. PyTorch's ROCm build names the GPU "cuda" (torch.version.hip is set);
without it the figures are reported alone.

Benchmarks: add (z = x + y, 2^26 float32: GB/s), sum (2^26 float32: GB/s), gemm (float32 4096^3
through hipBLAS: TFLOP/s), host (a 4x4 float32 add: microseconds per call).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback

import numpy as np

OUT = os.environ.get("OUT") or os.path.join(os.getcwd(), "gpu_out")


def _write(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(path + ".tmp", path)


def _runner(path):
    results = {"checks": [], "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def check(name):
        def deco(fn):
            t0 = time.perf_counter()
            rec = {"name": name}
            try:
                rec["detail"], rec["ok"] = fn(), True
            except Exception as e:  # noqa: BLE001  (recorded; the next check runs)
                rec.update(ok=False, error=f"{type(e).__name__}: {e}"[:2000], traceback=traceback.format_exc()[-4000:])
            rec["seconds"] = round(time.perf_counter() - t0, 3)
            results["checks"].append(rec)
            print(f"  {'ok  ' if rec['ok'] else 'FAIL'} {name} ({rec['seconds']}s)"
                  + ("" if rec["ok"] else f": {rec['error'][:300]}"), flush=True)
            _write(path, results)
            return fn
        return deco
    return check, results


def smoke(out):
    import ember
    from ember.device import get_backend
    check, results = _runner(os.path.join(out, "smoke.json"))
    rng = np.random.default_rng(0)
    dev = "rocm"

    def close(a, b, tol=1e-5):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)

    @check("device")
    def _():
        d = get_backend("rocm").runtime.device_facts(0)
        return {"name": d.name, "arch": d.arch, "cus": d.compute_units, "wave": d.warp, "memory": d.total_memory}

    @check("roundtrip all dtypes")
    def _():
        for dt in ember.dtypes.all_dtypes:
            a = (rng.standard_normal((33, 17)) * 9).astype(dt.np)
            assert np.array_equal(ember.tensor(a, device=dev).to("cpu").numpy().view(np.uint8), a.view(np.uint8)), dt

    @check("elementwise")
    def _():
        a, b = rng.standard_normal((257, 31)).astype(np.float32), rng.standard_normal((31,)).astype(np.float32)
        x, y = ember.tensor(a, device=dev), ember.tensor(b, device=dev)
        close((x * y + 1).to("cpu").numpy(), a * b + 1)
        close(ember.exp(x.t()).to("cpu").numpy(), np.exp(a.T), 1e-5)
        close(ember.where(x > 0, x, 2.5).to("cpu").numpy(), np.where(a > 0, a, 2.5))
        h = ember.tensor(a.astype(np.float16), device=dev)
        close((h + h).to("cpu").numpy(), (a.astype(np.float16) * 2), 1e-3)

    @check("reductions and scans (wavefront-independent)")
    def _():
        for shape in ((1000003,), (37, 4099), (4099, 37)):
            a = rng.standard_normal(shape).astype(np.float32)
            x = ember.tensor(a, device=dev)
            close(ember.sum(x).item(), a.sum(dtype=np.float64), 1e-3)
            close(ember.amax(x, -1).to("cpu").numpy(), a.max(-1))
            close(ember.argmax(x, -1).to("cpu").numpy(), a.argmax(-1))
            close(ember.cumsum(x, -1).to("cpu").numpy(), np.cumsum(a, -1, dtype=np.float64), 1e-2)
            close(ember.sort(x, -1)[0].to("cpu").numpy(), np.sort(a, -1))

    @check("matmul (hipBLAS and kernelgen)")
    def _():
        a, b = rng.standard_normal((3, 70, 33)), rng.standard_normal((3, 33, 45))
        for dt, tol in ((np.float32, 1e-4), (np.float64, 1e-10), (np.float16, 3e-2)):
            r = ember.bmm(ember.tensor(a.astype(dt), device=dev), ember.tensor(b.astype(dt), device=dev))
            close(r.to("cpu").numpy(), a.astype(dt).astype(np.float64) @ b.astype(dt), tol)
        at = ember.tensor(np.ascontiguousarray(a[0].T.astype(np.float32)), device=dev).t()
        close(ember.mm(at, ember.tensor(b[0].astype(np.float32), device=dev)).to("cpu").numpy(), a[0] @ b[0], 1e-4)

    @check("streams and events")
    def _():
        s = ember.Stream(dev, priority=-1)
        e0, e1 = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
        x = ember.tensor(np.ones(1 << 20, np.float32), device=dev)
        with ember.stream(s):
            e0.record()
            y = x * 3
            e1.record()
        s.synchronize()
        close(y.to("cpu").numpy()[:4], [3, 3, 3, 3])
        return {"ms": e0.elapsed_time(e1)}

    @check("training step")
    def _():
        ember.manual_seed(0)
        net = ember.nn.Sequential(ember.nn.Linear(64, 32), ember.nn.ReLU(), ember.nn.Linear(32, 10)).to(dev)
        opt = ember.optim.SGD(net.parameters(), lr=0.1)
        x = ember.randn(128, 64, device=dev)
        t = ember.randint(0, 10, (128,), device=dev)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = ember.nn.functional.cross_entropy(net(x), t)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0] * 0.8, losses
        return {"first": losses[0], "last": losses[-1]}

    return results


def _time(fn, sync, reps=20):
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t0) / reps


def bench(out):
    import ember
    from ember.device import get_backend
    check, results = _runner(os.path.join(out, "bench.json"))
    esync = lambda: get_backend("rocm").runtime.synchronize(ember.Device("rocm", 0))  # noqa: E731
    try:
        import torch
        tdev = "cuda" if getattr(torch.version, "hip", None) and torch.cuda.is_available() else None
    except ImportError:
        torch, tdev = None, None
    tsync = (lambda: torch.cuda.synchronize()) if tdev else None  # noqa: E731

    def measure(make_e, make_t, figure):
        e = figure(_time(make_e(), esync))
        res = {"ember": e}
        if tdev:
            t = figure(_time(make_t(), tsync))
            res.update(torch=t, ratio=e / t)
        return res

    n = 1 << 26

    @check("add")
    def _():
        def e():
            x, y = ember.ones(n, device="rocm"), ember.ones(n, device="rocm")
            return lambda: x + y

        def t():
            x, y = torch.ones(n, device=tdev), torch.ones(n, device=tdev)
            return lambda: x + y
        return {"GB/s": measure(e, t, lambda s: 12 * n / s / 1e9)}

    @check("sum")
    def _():
        def e():
            x = ember.ones(n, device="rocm")
            return lambda: ember.sum(x)

        def t():
            x = torch.ones(n, device=tdev)
            return lambda: torch.sum(x)
        return {"GB/s": measure(e, t, lambda s: 4 * n / s / 1e9)}

    @check("gemm")
    def _():
        m = 4096

        def e():
            a = ember.randn(m, m, device="rocm")
            return lambda: a @ a

        def t():
            a = torch.randn(m, m, device=tdev)
            return lambda: a @ a
        return {"TFLOP/s": measure(e, t, lambda s: 2 * m ** 3 / s / 1e12)}

    @check("host")
    def _():
        def e():
            x = ember.ones(4, 4, device="rocm")
            return lambda: x + x

        def t():
            x = torch.ones(4, 4, device=tdev)
            return lambda: x + x
        return {"us/call": measure(e, t, lambda s: s * 1e6)}

    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("smoke", "bench"))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    res = (smoke if args.what == "smoke" else bench)(args.out)
    return 0 if all(c["ok"] for c in res["checks"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
