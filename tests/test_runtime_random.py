"""The Philox RNG: known answers, counters and generators, identical numbers on two backends, distributions.

The second backend is the "counting" fixture (tests/fixtures/plugins/counting),
whose Philox kernel is its own numpy implementation: the bitwise-identity tests
compare it with the cpu backend's native one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember

from counting import load_counting  # noqa: E402


@pytest.fixture(scope="module")
def counting():
    return load_counting()


@pytest.fixture(autouse=True)
def _restore_rng():
    with ember.fork_rng():
        yield


# -- a fourth, scalar Philox: Python ints, straight from the Random123 paper -------------------------

def philox_ref(counter: int, key: int) -> list:
    c = [(counter >> (32 * i)) & 0xFFFFFFFF for i in range(4)]
    k0, k1 = key & 0xFFFFFFFF, key >> 32
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
    return c


def words_ref(n: int, seed: int, offset: int) -> list:
    out = []
    for b in range((n + 3) // 4):
        out += philox_ref((offset + b) % (1 << 128), seed)
    return out[:n]


# Random123's kat_vectors for philox4x32_10: (counter words c0..c3, key words k0 k1, output words).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def _counter(c):
    return c[0] | c[1] << 32 | c[2] << 64 | c[3] << 96


def _key(k):
    return k[0] | k[1] << 32


def implementations(counting):
    from ember_cpu.kernels.random import philox_numpy
    return {
        "cpu": lambda n, s, o: ember.philox_random([n], s, o).numpy().tolist(),
        "cpu-numpy": lambda n, s, o: philox_numpy(n, s, o).tolist(),
        "counting": lambda n, s, o: ember.philox_random([n], s, o, device="counting").tolist(),
        # the decomposition a backend without a kernel runs: int64 elementwise ops only
        "decomposition": lambda n, s, o: ember.dispatch.get("philox_random").decomposition([n], s, o).tolist(),
        "reference": words_ref,
    }


@pytest.mark.parametrize("ctr,key,expect", KAT)
def test_philox_known_answers(counting, ctr, key, expect):
    for name, f in implementations(counting).items():
        assert f(4, _key(key), _counter(ctr)) == list(expect), name


@pytest.mark.parametrize("n,seed,offset", [(1, 0, 0), (7, 1, 0), (33, 2**64 - 1, 5), (12, 42, 2**64 - 2),
                                           (10, 2**40 + 3, 2**128 - 2), (0, 0, 0)])
def test_philox_counters_sizes_and_carries(counting, n, seed, offset):
    expect = words_ref(n, seed, offset)
    for name, f in implementations(counting).items():
        assert f(n, seed, offset) == expect, (name, n, seed, offset)


def test_philox_prim_contract():
    w = ember.philox_random([2, 3], 9, 0)
    assert w.dtype is ember.int64 and w.shape == (2, 3)
    assert w.reshape(-1).tolist() == words_ref(6, 9, 0)
    assert all(0 <= v < 2**32 for v in w.reshape(-1).tolist())
    # element n is word n % 4 of counter offset + n // 4: a later offset is a later slice
    assert ember.philox_random([8], 9, 3).tolist() == ember.philox_random([20], 9, 0).tolist()[12:20]
    m = ember.philox_random([4, 5], 1, 2, device="meta")
    assert m.shape == (4, 5) and m.dtype is ember.int64 and m.is_meta
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*64\), got -1"):
        ember.philox_random([2], -1, 0)
    with pytest.raises(ValueError, match=r"offset must be an int in \[0, 2\*\*128\), got 2\.5"):
        ember.philox_random([2], 1, 2.5)
    with pytest.raises(ember.ShapeError, match="negative dimension"):
        ember.philox_random([-1], 1, 0)


# -- generators -------------------------------------------------------------------------------------------

def test_generator_offset_advances_by_ceil_words_over_4():
    g = ember.Generator().manual_seed(11)
    assert g.initial_seed() == 11 and g.offset == 0 and g.device == ember.device("cpu")
    a = ember.rand(5, generator=g)                 # 5 words: counters 0 and 1
    assert g.offset == 2
    b = ember.rand(5, generator=g)                 # counters 2 and 3: never the same words again
    assert g.offset == 4
    w = np.array(words_ref(16, 11, 0), np.int64)
    u = ((w >> 8).astype(np.float32) * np.float32(2.0 ** -24))
    assert a.numpy().tolist() == u[0:5].tolist() and b.numpy().tolist() == u[8:13].tolist()
    ember.rand(4, dtype=ember.float64, generator=g)  # two words per float64
    assert g.offset == 6
    ember.randn(3, generator=g)                    # Box-Muller: 2 pairs -> 4 words
    assert g.offset == 7


def test_manual_seed_reproduces_and_seeds_every_device(counting):
    ember.manual_seed(1234)
    a = ember.rand(100)
    c = ember.rand(100, device="counting:1")       # a default generator created after the seed
    ember.manual_seed(1234)
    assert ember.rand(100).tolist() == a.tolist()
    assert ember.rand(100, device="counting:1").tolist() == c.tolist() == a.tolist()
    ember.manual_seed(1235)
    assert ember.rand(100).tolist() != a.tolist()
    assert ember.initial_seed() == 1235
    ember.manual_seed(-1)                          # negative seeds wrap, as in PyTorch
    assert ember.initial_seed() == 2**64 - 1
    s = ember.seed()
    assert ember.initial_seed() == s and 0 <= s < 2**64
    assert ember.counting.initial_seed() == s
    ember.counting.manual_seed(5)                  # only the current counting device
    assert ember.counting.initial_seed() == 5 and ember.initial_seed() == s
    ember.counting.manual_seed_all(6)
    assert ember.default_generator("counting:1").initial_seed() == 6
    with pytest.raises(ValueError, match="seed must be in"):
        ember.manual_seed(2**64)
    with pytest.raises(TypeError, match="a seed is an int"):
        ember.manual_seed(1.5)


def test_state_round_trip_and_fork_rng(counting):
    g = ember.Generator("counting:0").manual_seed(3)
    ember.rand(10, generator=g)
    st = g.get_state()
    assert st.dtype is ember.uint8 and st.shape == (24,) and st.device == ember.device("cpu")
    a = ember.rand(10, generator=g)
    g.set_state(st)
    assert ember.rand(10, generator=g).tolist() == a.tolist()
    with pytest.raises(ValueError, match="24 bytes"):
        g.set_state(ember.zeros(3, dtype=ember.uint8))
    ember.manual_seed(8)
    before = ember.get_rng_state()
    with ember.fork_rng(devices=["counting:0"]):
        ember.rand(50)
        ember.rand(50, device="counting:0")
    assert ember.get_rng_state().tolist() == before.tolist()
    x = ember.rand(5)
    ember.set_rng_state(before)
    assert ember.rand(5).tolist() == x.tolist()
    assert ember.counting.get_rng_state().shape == (24,)
    with pytest.raises(TypeError, match="not pickled"):
        import pickle
        pickle.dumps(g)


def test_generator_device_rules(counting):
    g = ember.Generator("counting:1").manual_seed(0)
    assert ember.rand(3, generator=g).device == ember.device("counting:1")     # the generator's device
    with pytest.raises(ember.DeviceMismatchError, match="counting:1.*cpu"):
        ember.rand(3, generator=g, device="cpu")
    with pytest.raises(TypeError, match="ember.Generator"):
        ember.rand(3, generator=42)


# -- the same numbers on two backends ---------------------------------------------------------------------------

def _bits(t):
    a = t.cpu().numpy() if t.device.type != "cpu" else t.numpy()
    return np.ascontiguousarray(a).view(np.uint8).tobytes(), a.dtype, a.shape


CASES = [
    ("rand", lambda d: ember.rand(1001, device=d)),
    ("rand64", lambda d: ember.rand(33, 7, dtype=ember.float64, device=d)),
    ("rand16", lambda d: ember.rand(99, dtype=ember.float16, device=d)),
    ("randbf16", lambda d: ember.rand(99, dtype=ember.bfloat16, device=d)),
    ("randn", lambda d: ember.randn(1001, device=d)),
    ("randn64", lambda d: ember.randn(4, 50, dtype=ember.float64, device=d)),
    ("randnbf16", lambda d: ember.randn(77, dtype=ember.bfloat16, device=d)),
    ("randint", lambda d: ember.randint(-5, 17, (300,), device=d)),
    ("randint_big", lambda d: ember.randint(0, 2**40, (300,), device=d)),
    ("randint_i32", lambda d: ember.randint(100, (3, 4), dtype=ember.int32, device=d)),
    ("randperm", lambda d: ember.randperm(200, device=d)),
    ("uniform_", lambda d: ember.empty(100, device=d).uniform_(-2.0, 3.0)),
    ("normal_", lambda d: ember.empty(100, dtype=ember.float64, device=d).normal_(1.0, 0.5)),
    ("bernoulli_", lambda d: ember.empty(100, device=d).bernoulli_(0.3)),
    ("dropout", lambda d: ember.dropout(ember.ones(10, 10, device=d), 0.4)),
]


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_bitwise_identical_on_cpu_and_counting(counting, name, make):
    ember.manual_seed(20261126)
    a = make("cpu")
    ember.manual_seed(20261126)
    b = make("counting")
    assert b.device.type == "counting"
    assert _bits(a) == _bits(b), name


def test_same_seed_same_numbers_with_explicit_generators(counting):
    g1 = ember.Generator("cpu").manual_seed(77)
    g2 = ember.Generator("counting:1").manual_seed(77)
    for _ in range(3):
        assert _bits(ember.randn(31, generator=g1)) == _bits(ember.randn(31, generator=g2))
    assert g1.offset == g2.offset


# -- distributions ---------------------------------------------------------------------------------------------

def ks_statistic(sample, cdf) -> float:
    x = np.sort(np.asarray(sample, np.float64))
    n = x.size
    f = cdf(x)
    return float(max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max()))


def ks_pvalue(d: float, n: int) -> float:
    """Asymptotic Kolmogorov distribution P(D_n >= d), with Stephens' small-sample correction."""
    t = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    return max(0.0, min(1.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * t * t) for k in range(1, 101))))


def ks_test(sample, cdf):
    """(statistic, p-value): scipy's when installed, else our own against the exact CDF."""
    try:
        from scipy import stats
    except ImportError:
        d = ks_statistic(sample, cdf)
        return d, ks_pvalue(d, len(sample))
    r = stats.kstest(np.asarray(sample, np.float64), lambda v: cdf(np.asarray(v)))
    return r.statistic, r.pvalue


def normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def test_ks_helper_rejects_a_wrong_distribution():
    rng = np.random.default_rng(0)
    d, p = ks_test(rng.random(5000) ** 1.2, lambda v: np.clip(v, 0, 1))
    assert p < 1e-6
    d, p = ks_test(rng.random(5000), lambda v: np.clip(v, 0, 1))
    assert p > 1e-3


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_rand_is_uniform(dtype):
    ember.manual_seed(1)
    u = ember.rand(200_000, dtype=dtype).numpy().astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001
    _, p = ks_test(u[:50_000], lambda v: np.clip(v, 0, 1))
    assert p > 1e-3, p


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
def test_rand_half_types_stay_below_one(dtype):
    u = ember.rand(100_000, dtype=dtype).to(ember.float32).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_randn_is_standard_normal(dtype):
    ember.manual_seed(2)
    z = ember.randn(200_001, dtype=dtype).numpy().astype(np.float64)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1.0) < 0.01
    assert abs(((z - z.mean()) ** 3).mean()) < 0.03 and abs((z ** 4).mean() - 3.0) < 0.05  # skew, kurtosis
    _, p = ks_test(z[:50_000], normal_cdf)
    assert p > 1e-3, p
    _, p = ks_test(z[-50_000:], normal_cdf)            # the sine half of Box-Muller too
    assert p > 1e-3, p


def test_normal_and_uniform_in_place():
    ember.manual_seed(3)
    x = ember.empty(100_000, dtype=ember.float64).normal_(5.0, 2.0).numpy()
    assert abs(x.mean() - 5.0) < 0.03 and abs(x.std() - 2.0) < 0.03
    _, p = ks_test(x[:40_000], lambda v: normal_cdf((v - 5.0) / 2.0))
    assert p > 1e-3
    y = ember.empty(100_000).uniform_(-3.0, 1.0).numpy()
    assert y.min() >= -3.0 and y.max() < 1.0 and abs(y.mean() + 1.0) < 0.02
    z = ember.empty(10).uniform_(**{"from": 2.0, "to": 2.5})
    assert ((z.numpy() >= 2.0) & (z.numpy() < 2.5)).all()
    assert ember.normal(1.0, 0.0, (4,)).tolist() == [1.0] * 4
    n = ember.normal(ember.zeros(3, 1000), 1.0)
    assert n.shape == (3, 1000)


def test_randint_frequencies_and_range():
    ember.manual_seed(4)
    v = ember.randint(-3, 7, (100_000,)).numpy()
    assert v.dtype == np.int64 and v.min() == -3 and v.max() == 6
    counts = np.bincount(v + 3, minlength=10)
    expected = v.size / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30, counts                          # 9 degrees of freedom: p ~ 4e-4 at 30
    big = ember.randint(0, 2**62, (20_000,)).numpy()
    assert big.min() >= 0 and big.max() < 2**62
    assert abs(big.astype(np.float64).mean() / 2**62 - 0.5) < 0.02
    assert ember.randint(5, (2, 3)).shape == (2, 3)
    assert ember.randint(5, size=(4,)).shape == (4,)


def test_bernoulli_and_dropout():
    ember.manual_seed(5)
    b = ember.empty(100_000).bernoulli_(0.3).numpy()
    assert set(np.unique(b).tolist()) == {0.0, 1.0} and abs(b.mean() - 0.3) < 0.01
    probs = ember.tensor(np.linspace(0, 1, 11).repeat(10_000))
    s = ember.bernoulli(probs).numpy().reshape(11, 10_000).mean(axis=1)
    assert np.allclose(s, np.linspace(0, 1, 11), atol=0.02) and s[0] == 0.0 and s[-1] == 1.0
    assert ember.empty(5, dtype=ember.int64).bernoulli_(1.0).tolist() == [1] * 5
    x = ember.ones(200, 500)
    d = ember.dropout(x, 0.25).numpy()
    assert set(np.unique(d).tolist()) == {0.0, float(np.float32(1 / 0.75))}
    assert abs((d == 0).mean() - 0.25) < 0.01 and abs(d.mean() - 1.0) < 0.02
    assert ember.dropout(x, 0.25, training=False) is x
    assert ember.dropout(x, 0.0) is x
    assert (ember.dropout(x, 1.0).numpy() == 0).all()
    y = ember.ones(1000)
    r = ember.dropout(y, 0.5, inplace=True)
    assert r is y and (y.numpy() == 0).any() and (y.numpy() == 2).any()


def test_randperm_is_a_uniform_permutation():
    ember.manual_seed(6)
    p = ember.randperm(1000).numpy()
    assert sorted(p.tolist()) == list(range(1000)) and p.dtype == np.int64
    assert ember.randperm(0).shape == (0,) and ember.randperm(1).tolist() == [0]
    assert ember.randperm(5, dtype=ember.int32).dtype is ember.int32
    firsts = np.bincount([ember.randperm(4).numpy()[0] for _ in range(2000)], minlength=4)
    assert (np.abs(firsts - 500) < 100).all(), firsts


def test_like_functions_shapes_and_varargs():
    x = ember.zeros(3, 4, dtype=ember.float64)
    assert ember.rand_like(x).dtype is ember.float64 and ember.rand_like(x).shape == (3, 4)
    assert ember.randn_like(x).shape == (3, 4)
    assert ember.randint_like(x, 10).dtype is ember.float64
    assert ember.rand(2, 3).shape == (2, 3) == ember.rand((2, 3)).shape == ember.randn([2, 3]).shape
    assert ember.rand(()).shape == () and ember.rand(0, 5).shape == (0, 5)
    assert ember.rand(4).dtype is ember.float32


def test_meta_device_shapes_and_no_counter_use():
    g = ember.default_generator("meta")
    before = g.offset
    for t, shape, dtype in ((ember.rand(2, 3, device="meta"), (2, 3), ember.float32),
                            (ember.randn(4, device="meta", dtype=ember.float64), (4,), ember.float64),
                            (ember.randint(0, 5, (7,), device="meta"), (7,), ember.int64),
                            (ember.randperm(9, device="meta"), (9,), ember.int64),
                            (ember.empty(3, device="meta").normal_(), (3,), ember.float32),
                            (ember.dropout(ember.empty(2, 2, device="meta"), 0.5), (2, 2), ember.float32)):
        assert t.is_meta and t.shape == shape and t.dtype is dtype
    assert g.offset == before


def test_errors_name_the_values():
    with pytest.raises(ember.DTypeError, match="floating point dtype, got int64"):
        ember.rand(3, dtype=ember.int64)
    with pytest.raises(ValueError, match="high must be greater than low, got low=5, high=5"):
        ember.randint(5, 5, (3,))
    with pytest.raises(TypeError, match="low must be an int, got float"):
        ember.randint(0.5, 5, (3,))
    with pytest.raises(ember.DTypeError, match="bool"):
        ember.randint(0, 2, (3,), dtype=ember.bool)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
        ember.empty(3).bernoulli_(1.5)
    with pytest.raises(ValueError, match=r"dropout\(\): p must be a probability in \[0, 1\], got -0.1"):
        ember.dropout(ember.ones(3), -0.1)
    with pytest.raises(ValueError, match="std >= 0.0, got std=-1.0"):
        ember.empty(3).normal_(0.0, -1.0)
    with pytest.raises(ValueError, match="from <= to, got from=2.0, to=1.0"):
        ember.empty(3).uniform_(2.0, 1.0)
    with pytest.raises(ember.DTypeError, match="floating point tensor, got dtype int64"):
        ember.zeros(3, dtype=ember.int64).normal_()
    with pytest.raises(ValueError, match="non-negative int, got -2"):
        ember.randperm(-2)
    with pytest.raises(TypeError, match=r"\(high, size\) or \(low, high, size\)"):
        ember.randint(5)
