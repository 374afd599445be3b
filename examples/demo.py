"""A short tour of Ember on the best device this machine has (or the one --device names).

    python examples/demo.py              # the first available accelerator (see _device.py), else cpu
    python examples/demo.py --device cpu
"""

from __future__ import annotations

import argparse

import ember

from _device import best_device


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="device to run on, e.g. cpu, cuda:0 (default: the best available)")
    dev = parser.parse_args(argv).device or best_device()

    print(f"ember {ember.__version__} on device {dev!r}")
    x = ember.arange(6, dtype=ember.float32, device=dev).reshape(2, 3)
    y = ember.full((2, 3), 0.5, device=dev)
    print("x =", x)
    print("x.device =", x.device, " x.dtype =", x.dtype, " x.shape =", x.shape)

    print("\n# elementwise")
    print("x * 2 + y =", x * 2 + y)
    print("exp(-x) =", ember.exp(-x))
    print("maximum(x, 2.5) =", ember.maximum(x, ember.full((), 2.5, device=dev)))
    print("x > 2 =", x > 2)

    print("\n# views share memory")
    xt = x.t()
    print("x.t() =", xt, " contiguous:", xt.is_contiguous())
    row = x.select(0, 1)
    row.fill_(-1.0)
    print("after x.select(0, 1).fill_(-1):  x =", x)

    if hasattr(ember, "sum"):
        print("\n# reductions")
        print("x.sum() =", ember.sum(x), " x.sum(dim=1) =", ember.sum(x, 1))
    if hasattr(ember, "matmul"):
        print("\n# matmul")
        print("x @ x.t() =", ember.matmul(x, xt))

    if x.device.type != "meta":  # meta tensors have shapes and dtypes, no data
        print("\nback on the host:", x.to("cpu").tolist())


if __name__ == "__main__":
    main()
