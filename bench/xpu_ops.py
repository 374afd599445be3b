"""xpu (OpenCL) against numpy: add and sum on 2**24 float32, GEMM 1024x1024 float32.

    EMBER_XPU_PLATFORM="Portable Computing Language" .venv/bin/python bench/xpu_ops.py

Without EMBER_XPU_PLATFORM it uses an Intel GPU when there is one, else pocl.
Each figure is the median of --repeat runs after a warm-up (the first call
compiles the kernel; later processes load it from the kernel cache), timed
from launch to the end of the work (ember.synchronize); the xpu runs and
their numpy peer's take turns, so a change in the machine's load hits both. Sums run through the
reduction kernels kernelgen measured fastest for this device ("tree": the
GPU-shaped ones; "UxBLOCK": the CPU-shaped ones; EMBER_KERNEL_REDUCE
overrides), in full and over the rows of the same elements as a
(n / 4096, 4096) matrix (sum(0): columns). GEMM runs through the
kernel the xpu backend registers for matmul (the generator's, with the tile
measured for this device named: RMxRN[xBLOCK], or "tiled"; EMBER_KERNEL_GEMM
overrides), then through the generator's GPU-shaped tiled kernel and, where
pyclblast is installed, CLBlast, side by side.
The ratio xpu/numpy is median(xpu) / median(numpy) of the two columns beside it.
numpy's BLAS and pocl's cpu device both run on ``--threads`` threads (default 1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, pin_threads, ratio, threads_line


def _median_times(fn, sync, peer, repeat):
    """(median seconds of fn, to the end of its work, median seconds of peer): their runs take turns, so a
    change in the machine's load hits both alike."""
    fn()
    sync()  # warm-up: compiles, allocates the cache's blocks
    peer()
    samples = interleave({"xpu": lambda: (fn(), sync()), "numpy": peer}, repeat)
    return statistics.median(samples["xpu"]), statistics.median(samples["numpy"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--n", type=int, default=1 << 24, help="elements for add and sum")
    ap.add_argument("--gemm", type=int, default=1024, help="GEMM size (square)")
    add_threads_option(ap)
    args = ap.parse_args(argv)
    pin_threads(args.threads, pocl=True)

    from ember_xpu import runtime as R
    if not os.environ.get(R.PLATFORM_ENV) and not R.discover("")[0]:
        os.environ[R.PLATFORM_ENV] = "Portable Computing Language"
    import ember
    from ember.device import get_backend

    rt = get_backend("xpu").runtime
    if not rt.is_available():
        sys.exit(f"xpu is unavailable: {rt.unavailable_reason()}")
    dev = "xpu:0"
    print(f"device: {rt.devices[0].describe()}")
    print(f"numpy {np.__version__}; median of {args.repeat} runs after a warm-up; {threads_line()}\n")

    def sync():
        rt.synchronize(None)

    rng = np.random.default_rng(0)
    rows = []
    a = rng.standard_normal(args.n, dtype=np.float32)
    b = rng.standard_normal(args.n, dtype=np.float32)
    xa, xb = ember.tensor(a, device=dev), ember.tensor(b, device=dev)
    np.testing.assert_allclose((xa + xb).to("cpu").numpy(), a + b, rtol=1e-6)
    rows.append((f"add  {args.n} float32", *_median_times(lambda: xa + xb, sync, lambda: a + b, args.repeat)))
    from ember_xpu import kernels as XK
    red = f"kernelgen {XK.reduce_choice(xa._device)}"
    np.testing.assert_allclose(float(xa.sum().item()), float(a.sum(dtype=np.float64)), rtol=1e-4, atol=1e-2)
    rows.append((f"sum  {args.n} float32 ({red})", *_median_times(lambda: xa.sum(), sync, lambda: a.sum(),
                                                                   args.repeat)))
    if args.n % 4096 == 0:
        ma2, xa2 = a.reshape(-1, 4096), xa.reshape(-1, 4096)
        np.testing.assert_allclose(xa2.sum(0).to("cpu").numpy(), ma2.sum(0, dtype=np.float64), rtol=1e-4, atol=1e-2)
        rows.append((f"sum(0) {ma2.shape[0]}x4096 float32 ({red})",
                     *_median_times(lambda: xa2.sum(0), sync, lambda: ma2.sum(0), args.repeat)))

    n = args.gemm
    ma = rng.standard_normal((n, n), dtype=np.float32)
    mb = rng.standard_normal((n, n), dtype=np.float32)
    xma, xmb = ember.tensor(ma, device=dev), ember.tensor(mb, device=dev)
    ref = ma.astype(np.float64) @ mb.astype(np.float64)
    np.testing.assert_allclose((xma @ xmb).to("cpu").numpy(), ref, rtol=1e-3, atol=1e-2 * np.sqrt(n))
    engine = XK.gemm_engine()
    if engine == "kernelgen":
        engine += f" {XK.gemm_choice(xma._device)}"
    rows.append((f"GEMM {n}x{n} float32 ({engine})", *_median_times(lambda: xma @ xmb, sync, lambda: ma @ mb,
                                                                     args.repeat)))
    for name, fn in XK.gemm_alternatives().items():
        if name in (XK.gemm_engine(), engine):    # measured above
            continue
        try:
            out = fn(xma, xmb)
            np.testing.assert_allclose(out.to("cpu").numpy(), ref, rtol=1e-3, atol=1e-2 * np.sqrt(n))
            rows.append((f"GEMM {n}x{n} float32 ({name})",
                         *_median_times(lambda: fn(xma, xmb), sync, lambda: ma @ mb, args.repeat)))
        except Exception as e:  # noqa: BLE001  (an alternative that cannot run here)
            print(f"GEMM through {name}: not measured ({type(e).__name__}: {e})")

    w = max(len(r[0]) for r in rows)
    print(f"{'operation':<{w}}  {'xpu ms':>10}  {'numpy ms':>10}  {'xpu/numpy':>9}")
    for name, t_x, t_n in rows:
        print(f"{name:<{w}}  {fmt(t_x * 1e3):>10}  {fmt(t_n * 1e3):>10}  {fmt_ratio(ratio(t_x, t_n)):>9}")
    flops = 2.0 * n ** 3
    for name, t_x, _ in rows:
        if name.startswith("GEMM"):
            print(f"{name}: {flops / t_x / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
