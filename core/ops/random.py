"""Random operators: the Philox prim and the decompositions over its words.

``philox_random`` is the one random prim every backend implements. Element n
(row-major) of ``philox_random(size, seed, offset)`` is word ``n % 4`` of
Philox4x32-10 applied to the 128-bit counter ``offset + n // 4`` (split into
four little-endian 32-bit words) with key ``(seed & 0xffffffff, seed >> 32)``,
as an int64 in [0, 2**32). Known answer: counter 0, key 0 gives 0x6627e8d5,
0xe169c58d, 0xbc57ac4c, 0x9b00dbd8.

Everything else (rand, randn, randint, normal_, uniform_, bernoulli_,
dropout, randperm, *_like) is written with ember operators over those words,
so for one seed it gives the same values on every backend whose prim and
elementwise prims agree. A generator's offset advances by ceil(words / 4) per
call (see ``ember.runtime.random``).

How words become numbers:
- uniform [0, 1): float32 from the top 24 bits of a word, float16 11 bits,
  bfloat16 8 bits (exact, never 1.0); float64 from 53 bits of two words;
- normal: Box-Muller on pairs of uniforms (computed in float32 for the
  half types), the cosine half first then the sine half;
- randint: ``low + word % (high - low)`` (63 bits of two words when the range
  exceeds 2**32);
- randperm: a stable argsort of 63-bit random keys.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from .._tensor import Tensor
from ..device import resolve
from ..dispatch import defop
from ..errors import DeviceMismatchError, DTypeError, EmberError
from ..runtime.copies import read_for_check
from ._helpers import Spec, as_shape, check_size, dtype_arg
from . import creation as C
from . import elementwise as E
from . import shape as S
from . import sorting as SO
from ..errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["philox_random", "rand", "randn", "randint", "randperm", "normal_", "uniform_", "bernoulli_",
           "bernoulli", "dropout", "rand_like", "randn_like", "randint_like", "normal"]

_U64 = (1 << 64) - 1
_U128 = (1 << 128) - 1


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# -- the prim ------------------------------------------------------------------------------------

def _philox_meta(size, seed, offset, device=None):
    shape = check_size(as_shape((size,), "philox_random"), "philox_random")
    if not isinstance(seed, int) or not 0 <= seed <= _U64:
        raise InvalidArgumentError(f"philox_random(): seed must be an int in [0, 2**64), got {seed!r}")
    if not isinstance(offset, int) or not 0 <= offset <= _U128:
        raise InvalidArgumentError(f"philox_random(): offset must be an int in [0, 2**128), got {offset!r}")
    return Spec(shape, D.int64)


def _philox_adapter(op, kernel, backend):
    def entry(size, seed, offset, device=None):
        spec = _philox_meta(size, seed, offset, device)
        out = C.empty(spec.shape, dtype=D.int64, device=device if device is not None else backend.device())
        if out.numel():
            kernel(out, seed, offset)
        return out
    return entry


_M32 = 0xFFFFFFFF


def _mulhilo(m: int, c: Tensor):
    """(high, low) 32-bit words of m * c for a 32-bit constant m and int64 tensor c of 32-bit words.

    In 16-bit limbs, so every partial product fits int64 exactly: the result is bitwise the same everywhere.
    """
    mh, ml = m >> 16, m & 0xFFFF
    ch = E.bitwise_right_shift(c, 16)
    cl = E.bitwise_and(c, 0xFFFF)
    mid = E.add(E.mul(cl, mh), E.mul(ch, ml))                              # < 2**33
    lo = E.add(E.mul(cl, ml), E.bitwise_left_shift(E.bitwise_and(mid, 0xFFFF), 16))
    hi = E.add(E.add(E.mul(ch, mh), E.bitwise_right_shift(mid, 16)), E.bitwise_right_shift(lo, 32))
    return hi, E.bitwise_and(lo, _M32)


def _philox_decomposition(size, seed, offset, device=None):
    """philox_random from int64 elementwise ops: slow (hundreds of ops), exact, for backends without a kernel."""
    spec = _philox_meta(size, seed, offset, device)
    n = _numel(spec.shape)
    dev = resolve(device)[1]
    if n == 0:
        return C.empty(spec.shape, dtype=D.int64, device=dev)
    i = C.arange_(0, (n + 3) // 4, 1, dtype=D.int64, device=dev)            # block index, < 2**62
    o = [(offset >> (32 * k)) & _M32 for k in range(4)]
    s = E.add(E.bitwise_and(i, _M32), o[0])
    c0 = E.bitwise_and(s, _M32)
    s = E.add(E.add(E.bitwise_right_shift(i, 32), o[1]), E.bitwise_right_shift(s, 32))
    c1 = E.bitwise_and(s, _M32)
    s = E.add(E.bitwise_right_shift(s, 32), o[2])
    c2 = E.bitwise_and(s, _M32)
    c3 = E.bitwise_and(E.add(E.bitwise_right_shift(s, 32), o[3]), _M32)
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
        hi0, lo0 = _mulhilo(0xD2511F53, c0)
        hi1, lo1 = _mulhilo(0xCD9E8D57, c2)
        c0, c1, c2, c3 = (E.bitwise_xor(E.bitwise_xor(hi1, c1), k0), lo1,
                          E.bitwise_xor(E.bitwise_xor(hi0, c3), k1), lo0)
    words = S.stack([c0, c1, c2, c3], 1).reshape(-1)
    if words.numel() != n:
        words = words.narrow(0, 0, n)
    return words.reshape(spec.shape)


philox_random = defop(
    "philox_random(int[] size, int seed, int offset, *, Device? device=None) -> Tensor",
    meta=_philox_meta, prim=True, adapter=_philox_adapter, decomposition=_philox_decomposition, family="random",
    tags=("wide_ints",),  # seed (64-bit) and offset (128-bit) are unsigned counters, not int64 arguments
    doc="kernel(out, seed, offset): fill the contiguous int64 tensor out (numel >= 1) so that element n "
        "(row-major) is word n % 4 of Philox4x32-10 at the 128-bit counter offset + n // 4 (four little-endian "
        "32-bit words, c0 lowest) with key (seed & 0xffffffff, seed >> 32), a value in [0, 2**32). "
        "seed < 2**64 and offset < 2**128 are Python ints. Known answer: counter 0, key 0 -> "
        "0x6627e8d5 0xe169c58d 0xbc57ac4c 0x9b00dbd8.")


# -- helpers shared by the decompositions --------------------------------------------------------

def _generator(generator, device):
    """(generator, canonical device): the generator's device, or the default generator of ``device``."""
    from ..runtime.random import Generator, default_generator
    if generator is not None:
        if not isinstance(generator, Generator):
            raise ArgumentTypeError(f"generator must be an ember.Generator, got {type(generator).__name__}")
        if device is not None and resolve(device)[1] is not generator.device:
            raise DeviceMismatchError(f"the generator is on {generator.device} but the output is asked for on "
                                      f"{resolve(device)[1]}; create the generator with "
                                      f"ember.Generator({str(resolve(device)[1])!r})")
        return generator, generator.device
    dev = resolve(device)[1]
    return default_generator(dev), dev


def _words(gen, dev, n: int) -> Tensor:
    """``n`` fresh words from ``gen`` as a flat int64 tensor on ``dev``."""
    seed, offset = gen._next(n)
    return philox_random([n], seed, offset, device=dev)


_UNIFORM_BITS = {D.float32: 24, D.float16: 11, D.bfloat16: 8}


def _float_dtype(dtype, opname):
    dt = dtype_arg(dtype, opname) or D.get_default_dtype()
    if not dt.is_floating_point:
        raise DTypeError(f"{opname}(): dtype must be a floating point dtype, got {dt.name}; "
                         f"use randint() for integers")
    return dt


def _uniform01(gen, dev, n: int, dt) -> Tensor:
    """``n`` uniform numbers in [0, 1) of dtype ``dt`` (flat)."""
    if dt is D.float64:
        w = _words(gen, dev, 2 * n)
        hi = E.bitwise_right_shift(w.narrow(0, 0, n), 5).to(D.float64)    # 27 bits
        lo = E.bitwise_right_shift(w.narrow(0, n, n), 6).to(D.float64)    # 26 bits
        return E.mul(E.add(E.mul(hi, 67108864.0), lo), 2.0 ** -53)
    bits = _UNIFORM_BITS[dt]
    w = _words(gen, dev, n)
    return E.mul(E.bitwise_right_shift(w, 32 - bits).to(dt), 2.0 ** -bits)


def _normal01(gen, dev, n: int, dt) -> Tensor:
    """``n`` standard normal numbers of dtype ``dt`` (flat), by Box-Muller."""
    # The transform runs in float64 wherever the device has it, whatever ``dt`` is: the
    # transcendental functions of two backends may differ in the last bit of a float32
    # result, but rounding their float64 results to float32 agrees (short of a
    # double-rounding tie), so randn is the same on every such backend.
    ct = D.float64 if dt is D.float64 or _has_float64(dev) else D.float32
    m = (n + 1) // 2
    u = _uniform01(gen, dev, 2 * m, D.float64 if dt is D.float64 else D.float32)
    if u._dtype is not ct:
        u = u.to(ct)                                                   # exact: 24-bit uniforms
    u1 = E.sub(1.0, u.narrow(0, 0, m))                                 # (0, 1]: log is finite
    theta = E.mul(u.narrow(0, m, m), 2.0 * math.pi)
    r = E.sqrt(E.mul(E.log(u1), -2.0))
    z = S.cat([E.mul(r, E.cos(theta)), E.mul(r, E.sin(theta))], 0)
    if 2 * m != n:
        z = z.narrow(0, 0, n)
    return z if ct is dt else z.to(dt)


def _has_float64(dev) -> bool:
    return D.float64 in resolve(dev)[0].capabilities.dtypes


def _words63(gen, dev, n: int) -> Tensor:
    """``n`` random non-negative 63-bit int64 numbers (two words each)."""
    w = _words(gen, dev, 2 * n)
    hi = E.bitwise_right_shift(w.narrow(0, 0, n), 1)
    return E.bitwise_or(E.bitwise_left_shift(hi, 32), w.narrow(0, n, n))


# -- rand, randn, randint, randperm ------------------------------------------------------------------

def _rand_meta(size, generator=None, dtype=None, device=None):
    return Spec(check_size(as_shape((size,), "rand"), "rand"), _float_dtype(dtype, "rand"))


def _rand(size, generator=None, dtype=None, device=None):
    spec = _rand_meta(size, generator, dtype, device)
    gen, dev = _generator(generator, device)
    return _uniform01(gen, dev, _numel(spec.shape), spec.dtype).reshape(spec.shape)


_rand_op = defop("rand(int[] size, *, Any generator=None, ScalarType? dtype=None, Device? device=None) -> Tensor",
                 meta=_rand_meta, decomposition=_rand, family="random",
                 doc="Uniform numbers in [0, 1) from Philox words (see ember.ops.random).")


def _randn_meta(size, generator=None, dtype=None, device=None):
    return Spec(check_size(as_shape((size,), "randn"), "randn"), _float_dtype(dtype, "randn"))


def _randn(size, generator=None, dtype=None, device=None):
    spec = _randn_meta(size, generator, dtype, device)
    gen, dev = _generator(generator, device)
    return _normal01(gen, dev, _numel(spec.shape), spec.dtype).reshape(spec.shape)


_randn_op = defop("randn(int[] size, *, Any generator=None, ScalarType? dtype=None, Device? device=None) -> Tensor",
                  meta=_randn_meta, decomposition=_randn, family="random",
                  doc="Standard normal numbers (Box-Muller over Philox uniforms).")


def _randint_meta(low, high, size, generator=None, dtype=None, device=None):
    for name, v in (("low", low), ("high", high)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ArgumentTypeError(f"randint(): {name} must be an int, got {type(v).__name__}: {v!r}")
    if high <= low:
        raise InvalidArgumentError(f"randint(): high must be greater than low, got low={low}, high={high}")
    if high - low > 1 << 63:
        raise InvalidArgumentError(f"randint(): the range high - low must be at most 2**63, got {high - low}")
    dt = dtype_arg(dtype, "randint") or D.int64
    if dt is D.bool:
        raise DTypeError("randint(): dtype bool is not supported; use bernoulli_() or randint(0, 2) and .bool()")
    return Spec(check_size(as_shape((size,), "randint"), "randint"), dt)


def _randint(low, high, size, generator=None, dtype=None, device=None):
    spec = _randint_meta(low, high, size, generator, dtype, device)
    gen, dev = _generator(generator, device)
    n = _numel(spec.shape)
    r = high - low
    w = _words(gen, dev, n) if r <= 1 << 32 else _words63(gen, dev, n)
    v = E.add(E.remainder(w, r), low) if low else E.remainder(w, r)
    return v.to(spec.dtype).reshape(spec.shape)


_randint_op = defop("randint(int low, int high, int[] size, *, Any generator=None, ScalarType? dtype=None, "
                    "Device? device=None) -> Tensor", meta=_randint_meta, decomposition=_randint, family="random",
                    doc="Integers in [low, high): low + word % (high - low).")


def _randperm_meta(n, generator=None, dtype=None, device=None):
    if not isinstance(n, int) or n < 0:
        raise InvalidArgumentError(f"randperm(): n must be a non-negative int, got {n!r}")
    return Spec((n,), dtype_arg(dtype, "randperm") or D.int64)


def _randperm(n, generator=None, dtype=None, device=None):
    spec = _randperm_meta(n, generator, dtype, device)
    gen, dev = _generator(generator, device)
    if n == 0:
        return C.empty((0,), dtype=spec.dtype, device=dev)
    keys = _words63(gen, dev, n)
    return SO.argsort(keys, 0, False, True).to(spec.dtype)


randperm = defop("randperm(int n, *, Any generator=None, ScalarType? dtype=None, Device? device=None) -> Tensor",
                 meta=_randperm_meta, decomposition=_randperm, family="random",
                 doc="A random permutation of 0..n-1: the stable argsort of 63-bit Philox keys.")


# -- in-place samplers ------------------------------------------------------------------------------------

def _float_self(x, opname):
    if not x._dtype.is_floating_point:
        raise DTypeError(f"{opname}(): expects a floating point tensor, got dtype {x._dtype.name}")


def _uniform_meta(x, from_=0.0, to=1.0, generator=None):
    _float_self(x, "uniform_")
    if not from_ <= to:
        raise InvalidArgumentError(f"uniform_(): expects from <= to, got from={from_}, to={to}")
    return Spec(x._shape, x._dtype)


def _uniform_(x, from_=0.0, to=1.0, generator=None):
    _uniform_meta(x, from_, to, generator)
    gen, dev = _generator(generator, x._device)
    ct = D.float64 if x._dtype is D.float64 else D.float32
    u = _uniform01(gen, dev, x.numel(), ct).reshape(x._shape)
    if from_ != 0.0 or to != 1.0:
        u = E.add(E.mul(u, to - from_), from_)
    return C.copy_(x, u)


uniform_ = defop("uniform_(Tensor self, float from_=0.0, float to=1.0, *, Any generator=None) -> Tensor",
                 meta=_uniform_meta, decomposition=_uniform_, family="random",
                 doc="Fill self with uniform numbers in [from, to) (computed in float32, float64 for float64).")


def _normal_meta(x, mean=0.0, std=1.0, generator=None):
    _float_self(x, "normal_")
    if not std >= 0.0:
        raise InvalidArgumentError(f"normal_(): expects std >= 0.0, got std={std}")
    return Spec(x._shape, x._dtype)


def _normal_(x, mean=0.0, std=1.0, generator=None):
    _normal_meta(x, mean, std, generator)
    gen, dev = _generator(generator, x._device)
    ct = D.float64 if x._dtype is D.float64 else D.float32
    z = _normal01(gen, dev, x.numel(), ct).reshape(x._shape)
    if std != 1.0 or mean != 0.0:
        z = E.add(E.mul(z, std), mean)
    return C.copy_(x, z)


normal_ = defop("normal_(Tensor self, float mean=0.0, float std=1.0, *, Any generator=None) -> Tensor",
                meta=_normal_meta, decomposition=_normal_, family="random",
                doc="Fill self with normal numbers of the given mean and std.")


class ProbabilityError(EmberError, ValueError, RuntimeError):
    """A probability outside [0, 1] or NaN (PyTorch raises RuntimeError; a ValueError for Python code)."""


def _check_p(p, opname):
    if isinstance(p, Tensor):
        return
    if not 0.0 <= p <= 1.0:
        raise ProbabilityError(f"{opname}(): p must be a probability in [0, 1], got {p}")


def check_probabilities(t, opname, what="p"):
    """Refuse a tensor holding a value outside [0, 1] or NaN, as PyTorch does; this reads one flag back
    (and, for the message, the first bad value)."""
    if t.numel() and not read_for_check(E.logical_and(E.ge(t, 0), E.le(t, 1)).all()):
        bad = E.logical_not(E.logical_and(E.ge(t, 0), E.le(t, 1)))
        first = read_for_check(t.detach().reshape(-1)[bad.reshape(-1)][0])
        raise ProbabilityError(f"{opname}(): every element of {what} must be a probability in [0, 1], got "
                               f"{first}; clamp it (e.g. {what}.clamp(0, 1)) or fix NaNs first")


def _bernoulli_meta(x, p=0.5, generator=None):
    _check_p(p, "bernoulli_")
    if isinstance(p, Tensor) and not p._dtype.is_floating_point:
        raise DTypeError(f"bernoulli_(): probabilities must be a floating point tensor, got {p._dtype.name}")
    return Spec(x._shape, x._dtype)


def _bernoulli_(x, p=0.5, generator=None):
    _bernoulli_meta(x, p, generator)
    if isinstance(p, Tensor):
        check_probabilities(p, "bernoulli_")
    gen, dev = _generator(generator, x._device)
    ct = D.float64 if (isinstance(p, Tensor) and p._dtype is D.float64) or x._dtype is D.float64 else D.float32
    u = _uniform01(gen, dev, x.numel(), ct).reshape(x._shape)
    return C.copy_(x, E.lt(u, p))


bernoulli_ = defop("bernoulli_(Tensor self, Scalar p=0.5, *, Any generator=None) -> Tensor",
                   meta=_bernoulli_meta, decomposition=_bernoulli_, family="random",
                   doc="Fill self with 1 with probability p, else 0 (p a number or a tensor of probabilities).")


def _bernoulli_fn_meta(x, p=None, generator=None):
    if not x._dtype.is_floating_point:
        raise DTypeError(f"bernoulli(): expects a floating point tensor of probabilities, got {x._dtype.name}")
    return Spec(x._shape, x._dtype)


def _bernoulli(x, p=None, generator=None):
    _bernoulli_fn_meta(x, p, generator)
    out = C.empty(x._shape, dtype=x._dtype, device=x._device)
    return bernoulli_(out, x if p is None else p, generator=generator)


bernoulli = defop("bernoulli(Tensor self, Scalar? p=None, *, Any generator=None) -> Tensor",
                  meta=_bernoulli_fn_meta, decomposition=_bernoulli, family="random",
                  doc="A new tensor of 0s and 1s: 1 with probability self (or p when given).")


def _dropout_meta(x, p=0.5, training=True, inplace=False, generator=None):
    if not 0.0 <= p <= 1.0:
        raise InvalidArgumentError(f"dropout(): p must be a probability in [0, 1], got {p}")
    if training and p > 0.0:
        _float_self(x, "dropout")
    return Spec(x._shape, x._dtype)


def _dropout(x, p=0.5, training=True, inplace=False, generator=None):
    _dropout_meta(x, p, training, inplace, generator)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return E.mul_(x, 0.0) if inplace else E.mul(x, 0.0)
    gen, dev = _generator(generator, x._device)
    ct = D.float64 if x._dtype is D.float64 else D.float32
    keep = E.lt(_uniform01(gen, dev, x.numel(), ct).reshape(x._shape), 1.0 - p)
    scale = E.true_divide(keep.to(x._dtype), 1.0 - p)
    return E.mul_(x, scale) if inplace else E.mul(x, scale)


dropout = defop("dropout(Tensor input, float p=0.5, bool training=True, bool inplace=False, *, "
                "Any generator=None) -> Tensor", meta=_dropout_meta, decomposition=_dropout, family="random",
                doc="Zero each element with probability p and scale the rest by 1 / (1 - p) when training; "
                    "the input itself when not training.")


# -- Python-level wrappers: varargs sizes, a generator's device, *_like ---------------------------------------

def _size_and_device(size, generator, device):
    if device is None and generator is not None:
        device = getattr(generator, "device", None)
    return as_shape(size, "rand"), device


def rand(*size, generator=None, dtype=None, device=None):
    """Uniform numbers in [0, 1): ``ember.rand(2, 3)``, ``ember.rand((2, 3), generator=g)``."""
    shape, device = _size_and_device(size, generator, device)
    return _rand_op(shape, generator=generator, dtype=dtype, device=device)


def randn(*size, generator=None, dtype=None, device=None):
    """Standard normal numbers: ``ember.randn(2, 3)``."""
    shape, device = _size_and_device(size, generator, device)
    return _randn_op(shape, generator=generator, dtype=dtype, device=device)


def randint(*args, size=None, generator=None, dtype=None, device=None):
    """Integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``, like torch.randint."""
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        low, high, size = 0, args[0], args[1]
    elif len(args) == 3:
        low, high, size = args
    else:
        raise ArgumentTypeError(f"randint() takes (high, size) or (low, high, size), got {len(args)} arguments")
    if isinstance(size, int):
        size = (size,)
    shape, device = _size_and_device((size,), generator, device)
    return _randint_op(low, high, shape, generator=generator, dtype=dtype, device=device)


def _randperm_fn(n, *, generator=None, dtype=None, device=None):
    """A random permutation of 0..n-1."""
    _, device = _size_and_device((), generator, device)
    return randperm(n, generator=generator, dtype=dtype, device=device)


def rand_like(x, *, dtype=None, device=None, generator=None):
    return rand(x._shape, generator=generator, dtype=dtype or x._dtype, device=device or x._device)


def randn_like(x, *, dtype=None, device=None, generator=None):
    return randn(x._shape, generator=generator, dtype=dtype or x._dtype, device=device or x._device)


def randint_like(x, low, high=None, *, dtype=None, device=None, generator=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, x._shape, generator=generator, dtype=dtype or x._dtype,
                   device=device or x._device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None):
    """Normal numbers of a given mean and std, ``ember.normal(0.0, 2.0, (3, 4))`` (numbers, not tensors)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        z = randn(like._shape if size is None else size, generator=generator, dtype=like._dtype,
                  device=like._device)
        return E.add(E.mul(z, std), mean)
    if size is None:
        raise ArgumentTypeError("normal(): with a number mean and std, give size=")
    return normal_(C.empty(as_shape((size,), "normal"), dtype=dtype, device=device if device is not None else
                           getattr(generator, "device", None)), mean, std, generator=generator)


def _uniform_method(self, from_=0.0, to=1.0, *, generator=None, **kw):
    """x.uniform_(from, to): PyTorch spells the first bound ``from``, a Python keyword."""
    if "from" in kw:
        from_ = kw.pop("from")
    if kw:
        raise ArgumentTypeError(f"uniform_() got unexpected keyword arguments {sorted(kw)}")
    return uniform_(self, from_, to, generator=generator)


FUNCTIONS = {"rand": rand, "randn": randn, "randint": randint, "randperm": _randperm_fn, "rand_like": rand_like,
             "randn_like": randn_like, "randint_like": randint_like, "normal": normal}
METHODS = {"uniform_": _uniform_method}
