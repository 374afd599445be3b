"""Random numbers for initialisers, dropout and shuffling, drawn from Ember's generator.

Ember's counter-based generator provides ``ember.rand``/``ember.randn``/
``ember.randperm``; where an older core lacks them, a host generator stands in
(same distributions, not bitwise identical across devices).
"""

from __future__ import annotations

import numpy as np

_host = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the stand-in host generator (ember.manual_seed seeds Ember's own)."""
    global _host
    _host = np.random.default_rng(seed)


def _ember():
    import ember
    return ember


def _kw(generator):
    return {} if generator is None else {"generator": generator}


def rand(shape, dtype=None, device=None, generator=None):
    """Uniform [0, 1) of ``shape``."""
    e = _ember()
    fn = getattr(e, "rand", None)
    if fn is not None:
        return fn(tuple(shape), dtype=dtype, device=device, **_kw(generator))
    a = _host.random(tuple(shape))
    return e.tensor(a, dtype=dtype or e.get_default_dtype(), device=device)


def randn(shape, dtype=None, device=None, generator=None):
    e = _ember()
    fn = getattr(e, "randn", None)
    if fn is not None:
        return fn(tuple(shape), dtype=dtype, device=device, **_kw(generator))
    a = _host.standard_normal(tuple(shape))
    return e.tensor(a, dtype=dtype or e.get_default_dtype(), device=device)


def randperm(n, device=None, generator=None):
    e = _ember()
    fn = getattr(e, "randperm", None)
    if fn is not None:
        return fn(n, device=device, **_kw(generator))
    return e.tensor(_host.permutation(n), dtype=e.int64, device=device)
