"""ember.linalg against torch.linalg 2.13: values (batched and empty batches included), named results,
gradients, gradcheck in float64 and error types, through the cpu kernels (numpy/LAPACK), through the
operators' decompositions called directly, and on the npy vendor device (prims only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.dispatch import registry

from fixture_plugins import load

torch = pytest.importorskip("torch")
EL, TL = ember.linalg, torch.linalg
RNG = np.random.default_rng(0)
TOL = {ember.float32: dict(rtol=1e-4, atol=1e-5), ember.float64: dict(rtol=1e-9, atol=1e-10)}


def general(shape, dt=np.float64):
    return (RNG.uniform(-1, 1, shape) + shape[-1] * np.eye(shape[-1])).astype(dt)


def spd(shape, dt=np.float64):
    x = RNG.uniform(-1, 1, shape)
    return (x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dt)


def sym(shape, dt=np.float64):
    q, _ = np.linalg.qr(RNG.standard_normal(shape))
    return ((q * np.arange(1, shape[-1] + 1)) @ np.swapaxes(q, -1, -2)).astype(dt)


def close(e, t, dt=ember.float64):
    e = e.detach().numpy() if isinstance(e, ember.Tensor) else np.asarray(e)
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    assert e.shape == t.shape, (e.shape, t.shape)
    np.testing.assert_allclose(e, t, **TOL[dt])


# -- values of the unique results ------------------------------------------------------------

SHAPES = [(3, 3), (2, 4, 4), (2, 1, 3, 3), (0, 3, 3), (3, 0, 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_square_functions_match_torch(shape, dtype):
    dt = ember.float32 if dtype == np.float32 else ember.float64
    a, s = general(shape, dtype), spd(shape, dtype)
    ea, ta, es, ts = ember.tensor(a), torch.tensor(a), ember.tensor(s), torch.tensor(s)
    close(EL.inv(ea), TL.inv(ta), dt)
    close(EL.det(ea), TL.det(ta), dt)
    close(ember.det(ea), torch.det(ta), dt)
    close(ea.inverse(), ta.inverse(), dt)
    sign, logabs = EL.slogdet(ea)
    ts_, tl_ = TL.slogdet(ta)
    close(sign, ts_, dt), close(logabs, tl_, dt)
    assert EL.slogdet(ea).logabsdet is logabs or EL.slogdet(ea)._fields == ("sign", "logabsdet")
    close(EL.cholesky(es), TL.cholesky(ts), dt)
    close(EL.cholesky(es, upper=True), TL.cholesky(ts, upper=True), dt)
    close(es.cholesky(), ts.cholesky(), dt)
    close(EL.eigvalsh(es), TL.eigvalsh(ts), dt)
    close(EL.eigvalsh(es, UPLO="U"), TL.eigvalsh(ts, UPLO="U"), dt)
    close(EL.matrix_power(ea, 3), TL.matrix_power(ta, 3), dt)
    close(EL.matrix_power(ea, -2), TL.matrix_power(ta, -2), dt)
    close(EL.matrix_power(ea, 0), TL.matrix_power(ta, 0), dt)
    b = RNG.uniform(-1, 1, shape[:-1] + (2,)).astype(dtype)
    close(EL.solve(ea, ember.tensor(b)), TL.solve(ta, torch.tensor(b)), dt)
    close(EL.solve(ea, ember.tensor(b.swapaxes(-1, -2)), left=False),
          TL.solve(ta, torch.tensor(b.swapaxes(-1, -2)), left=False), dt)
    vec = b[..., 0]
    close(EL.solve(ea, ember.tensor(vec)), TL.solve(ta, torch.tensor(vec)), dt)
    close(EL.matrix_rank(ea), TL.matrix_rank(ta))
    assert EL.matrix_rank(ea).dtype == ember.int64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 5, 2), (2, 2, 3), (0, 4, 3)])
def test_rectangular_functions_match_torch(shape, dtype):
    dt = ember.float32 if dtype == np.float32 else ember.float64
    a = RNG.uniform(-1, 1, shape).astype(dtype)
    ea, ta = ember.tensor(a), torch.tensor(a)
    for mode in ("reduced", "complete", "r"):
        (q, r), (tq, tr) = EL.qr(ea, mode), TL.qr(ta, mode)
        close(q, tq, dt), close(r, tr, dt)   # LAPACK's sign convention: unique
    close(EL.svdvals(ea), TL.svdvals(ta), dt)
    close(EL.pinv(ea), TL.pinv(ta), dt)
    close(ember.linalg.pinverse(ea), torch.pinverse(ta), dt)
    for ordr in ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf):
        if a.size or ordr in ("fro", "nuc", 1, math.inf):
            close(EL.matrix_norm(ea, ordr), TL.matrix_norm(ta, ordr), dt)
    close(EL.matrix_norm(ea, 1, keepdim=True), TL.matrix_norm(ta, 1, keepdim=True), dt)
    for full in (True, False):
        U, S, Vh = EL.svd(ea, full_matrices=full)
        tU, tS, tVh = TL.svd(ta, full_matrices=full)
        assert U.shape == tU.shape and Vh.shape == tVh.shape
        close(S, tS, dt)
        k = min(shape[-2:])
        rec = (U.numpy()[..., :, :k] * S.numpy()[..., None, :]) @ Vh.numpy()[..., :k, :]
        np.testing.assert_allclose(rec, a, **TOL[dt])
        for M in (U.numpy(), Vh.numpy()):
            np.testing.assert_allclose(np.swapaxes(M, -1, -2) @ M if M is U.numpy() else M @ np.swapaxes(M, -1, -2),
                                       np.broadcast_to(np.eye(M.shape[-1] if M is U.numpy() else M.shape[-2]),
                                                       M.shape[:-2] + ((M.shape[-1],) * 2 if M is U.numpy() else
                                                                       (M.shape[-2],) * 2)), **TOL[dt])


def test_eigh_invariants_and_named_results():
    for shape in [(4, 4), (2, 3, 3), (0, 2, 2)]:
        s = sym(shape)
        w, Vv = res = EL.eigh(ember.tensor(s))
        assert res._fields == ("eigenvalues", "eigenvectors")
        close(w, TL.eigh(torch.tensor(s)).eigenvalues)
        v = Vv.numpy()
        np.testing.assert_allclose((v * w.numpy()[..., None, :]) @ np.swapaxes(v, -1, -2), s, atol=1e-10)
        # eigenvectors match torch's up to the sign of each column
        tv = TL.eigh(torch.tensor(s)).eigenvectors.numpy()
        np.testing.assert_allclose(np.abs(np.sum(v * tv, -2)), 1.0, atol=1e-10)
    upper = np.triu(sym((3, 3))) + np.tril(RNG.uniform(-1, 1, (3, 3)), -1)
    close(EL.eigh(ember.tensor(upper), "U").eigenvalues, TL.eigh(torch.tensor(upper), "U").eigenvalues)
    assert EL.svd(ember.tensor(np.eye(2)))._fields == ("U", "S", "Vh")
    assert EL.qr(ember.tensor(np.eye(2)))._fields == ("Q", "R")


def test_norms_vector_and_dispatch_match_torch():
    x = RNG.uniform(-2, 2, (3, 4))
    ex, tx = ember.tensor(x), torch.tensor(x)
    for ordr in (2, 1, 0, 3.5, math.inf, -math.inf, -1):
        close(EL.vector_norm(ex, ordr), TL.vector_norm(tx, ordr))
        close(EL.vector_norm(ex, ordr, dim=1, keepdim=True), TL.vector_norm(tx, ordr, dim=1, keepdim=True))
    x32 = x.astype(np.float32)
    close(EL.vector_norm(ember.tensor(x32), dtype=ember.float64), TL.vector_norm(torch.tensor(x32), dtype=torch.float64))
    with pytest.raises(ember.DTypeError, match="narrowing"):
        EL.vector_norm(ex, dtype=ember.float32)
    close(EL.norm(ex), TL.norm(tx))
    close(EL.norm(ex, "nuc"), TL.norm(tx, "nuc"))
    close(EL.norm(ex, 2, dim=(0, 1)), TL.norm(tx, 2, dim=(0, 1)))
    close(EL.norm(ex, 1, dim=0), TL.norm(tx, 1, dim=0))
    close(EL.norm(ex[0], math.inf), TL.norm(tx[0], math.inf))


def test_lstsq_cross_multi_dot_match_torch():
    a, b = RNG.uniform(-1, 1, (2, 5, 3)), RNG.uniform(-1, 1, (2, 5, 2))
    ea, eb, ta, tb = ember.tensor(a), ember.tensor(b), torch.tensor(a), torch.tensor(b)
    for driver in (None, "gelsd", "gelss", "gels"):
        r, t = EL.lstsq(ea, eb, driver=driver), TL.lstsq(ta, tb, driver=driver)
        assert r._fields == ("solution", "residuals", "rank", "singular_values")
        for x, y in zip(r, t):
            assert tuple(x.shape) == tuple(y.shape) and str(x.dtype).split(".")[1] == str(y.dtype).split(".")[1]
            close(x, y)
    wide = RNG.uniform(-1, 1, (3, 5))
    close(EL.lstsq(ember.tensor(wide), ember.tensor(b[0, :3])).solution,
          TL.lstsq(torch.tensor(wide), torch.tensor(b[0, :3])).solution)
    u, v = RNG.uniform(-1, 1, (4, 3)), RNG.uniform(-1, 1, (1, 3))
    close(EL.cross(ember.tensor(u), ember.tensor(v)), TL.cross(torch.tensor(u), torch.tensor(v)))
    ms = [RNG.uniform(-1, 1, s) for s in [(3,), (3, 5), (5, 2), (2, 4), (4,)]]
    close(EL.multi_dot([ember.tensor(m) for m in ms]), TL.multi_dot([torch.tensor(m) for m in ms]))
    close(EL.multi_dot([ember.tensor(m) for m in ms[1:4]]), TL.multi_dot([torch.tensor(m) for m in ms[1:4]]))


# -- gradients ------------------------------------------------------------------------------------

def _grads(ef, tf, *arrs):
    ea = [ember.tensor(a, requires_grad=True) for a in arrs]
    ta = [torch.tensor(a, requires_grad=True) for a in arrs]
    eo, to = ef(*ea), tf(*ta)
    eo = eo if isinstance(eo, (tuple, list)) else (eo,)
    to = to if isinstance(to, (tuple, list)) else (to,)
    ws = [RNG.standard_normal(tuple(o.shape)) for o in to]
    sum(((o * ember.tensor(w)).sum() for o, w in zip(eo, ws)), ember.tensor(0.0, dtype=ember.float64)).backward()
    sum((o * torch.tensor(w)).sum() for o, w in zip(to, ws)).backward()
    for x, y in zip(ea, ta):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-8, atol=1e-10)


def _svd_invariant(lib, shape):
    def f(a):
        U, S, Vh = lib.svd(a, full_matrices=False)
        return U * U[..., :1, :].sign(), S, Vh * Vh[..., :, :1].sign()   # signs fixed: a smooth function
    return f


GRAD_CASES = {
    "inv": (lambda L: L.inv, [general((2, 3, 3))]),
    "det": (lambda L: L.det, [general((3, 3))]),
    "slogdet": (lambda L: (lambda a: L.slogdet(a).logabsdet), [general((2, 3, 3))]),
    "solve": (lambda L: L.solve, [general((2, 3, 3)), RNG.uniform(-1, 1, (3, 2))]),
    "solve_right": (lambda L: (lambda a, b: L.solve(a, b, left=False)), [general((3, 3)), RNG.uniform(-1, 1, (2, 3))]),
    "cholesky": (lambda L: L.cholesky, [spd((2, 3, 3))]),
    "cholesky_upper": (lambda L: (lambda a: L.cholesky(a, upper=True)), [spd((3, 3))]),
    "qr_tall": (lambda L: L.qr, [RNG.uniform(-1, 1, (4, 3))]),
    "qr_wide": (lambda L: L.qr, [RNG.uniform(-1, 1, (2, 3, 5))]),
    "eigh": (lambda L: (lambda a: (lambda r: (r[0], r[1] * r[1][..., :1, :].sign()))(L.eigh(a))), [sym((2, 3, 3))]),
    "svd_tall": (lambda L: _svd_invariant(L, (5, 3)), [RNG.uniform(-1, 1, (5, 3))]),
    "svd_wide": (lambda L: _svd_invariant(L, (2, 4)), [RNG.uniform(-1, 1, (2, 4))]),
    "svdvals": (lambda L: L.svdvals, [RNG.uniform(-1, 1, (2, 4, 3))]),
    "pinv": (lambda L: L.pinv, [RNG.uniform(-1, 1, (4, 3))]),
    "lstsq": (lambda L: (lambda a, b: L.lstsq(a, b).solution), [RNG.uniform(-1, 1, (5, 3)), RNG.uniform(-1, 1, (5, 2))]),
    "matrix_norm_2": (lambda L: (lambda a: L.matrix_norm(a, 2)), [RNG.uniform(-1, 1, (3, 4))]),
    "matrix_power": (lambda L: (lambda a: L.matrix_power(a, -2)), [general((3, 3))]),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_match_torch(case):
    make, arrs = GRAD_CASES[case]
    _grads(make(EL), make(TL), *arrs)


@pytest.mark.parametrize("case", ["inv", "det", "solve", "qr_wide", "svdvals", "lstsq", "cholesky"])
def test_gradcheck_float64(case):
    make, arrs = GRAD_CASES[case]
    f = make(EL)
    if case == "cholesky":
        g = f
        f = lambda a: g((a + a.mT) * 0.5)  # noqa: E731  (the gradient is for a symmetric input)
    assert gradcheck(f, tuple(ember.tensor(a, requires_grad=True) for a in arrs))


# -- errors ----------------------------------------------------------------------------------------

def test_singular_and_not_positive_definite_raise_as_torch():
    sing = np.stack([np.eye(3), np.zeros((3, 3))])
    for ef, tf, x in [(EL.inv, TL.inv, sing), (EL.inv, TL.inv, sing[1]),
                      (lambda a: EL.solve(a, ember.ones(2, 3, 1, dtype=ember.float64)),
                       lambda a: TL.solve(a, torch.ones(2, 3, 1, dtype=torch.float64)), sing),
                      (EL.cholesky, TL.cholesky, np.stack([np.eye(3), np.diag([1.0, 1, -1])])),
                      (EL.cholesky, TL.cholesky, -np.eye(2))]:
        with pytest.raises(torch.linalg.LinAlgError) as te:
            tf(torch.tensor(x))
        with pytest.raises(EL.LinAlgError) as ee:
            ef(ember.tensor(x))
        assert str(ee.value) == str(te.value)
        assert isinstance(ee.value, RuntimeError)
    info = EL.inv_ex(ember.tensor(sing)).info
    assert info.dtype == ember.int32 and info.tolist() == TL.inv_ex(torch.tensor(sing)).info.tolist()
    s, la = EL.slogdet(ember.tensor(sing[1]))
    assert s.item() == 0 and la.item() == -math.inf
    assert EL.det(ember.tensor(sing)).tolist() == [1.0, 0.0]


def test_bad_inputs_raise_typed_errors():
    i = ember.ones(3, 3, dtype=ember.int64)
    h = ember.ones(3, 3, dtype=ember.float16)
    for fn in (EL.inv, EL.det, EL.cholesky, EL.eigh, EL.svd, EL.qr, EL.slogdet, EL.pinv, EL.matrix_rank):
        with pytest.raises(ember.DTypeError):
            fn(i)
        with pytest.raises(ember.DTypeError, match="float32 and float64"):
            fn(h)
    for fn in (EL.inv, EL.det, EL.cholesky, EL.eigh, EL.slogdet):
        with pytest.raises(ember.ShapeError, match="square"):
            fn(ember.ones(2, 3))
        with pytest.raises(ember.ShapeError, match="at least 2 dimensions"):
            fn(ember.ones(3))
    with pytest.raises(ember.ShapeError, match="Incompatible shapes"):
        EL.solve(ember.eye(3), ember.ones(4))
    with pytest.raises(ember.DTypeError, match="same dtype"):
        EL.solve(ember.eye(3), ember.ones(3, dtype=ember.float64))
    with pytest.raises(ValueError, match="unrecognized mode"):
        EL.qr(ember.eye(3), mode="x")
    with pytest.raises(ValueError, match="UPLO"):
        EL.eigh(ember.eye(3), UPLO="X")
    with pytest.raises(ember.ShapeError, match="length 3"):
        EL.cross(ember.ones(3, 2), ember.ones(3, 2))
    with pytest.raises(ValueError, match="at least 2 tensors"):
        EL.multi_dot([ember.eye(3)])
    with pytest.raises(ember.DTypeError):
        EL.vector_norm(ember.ones(3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="mode='r'"):
        x = ember.tensor(RNG.uniform(-1, 1, (3, 3)), requires_grad=True)
        EL.qr(x, mode="r").R.sum().backward()


# -- the decompositions (every backend without a kernel runs them) ---------------------------------

def _dec(name):
    return registry[name].decomposition


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decompositions_match_torch(dtype):
    dt = ember.float32 if dtype == np.float32 else ember.float64
    t = ember.tensor
    a, s, h = general((2, 4, 4), dtype), spd((2, 4, 4), dtype), sym((2, 4, 4), dtype)
    close(_dec("_linalg_inv_ex")(t(a))[0], TL.inv(torch.tensor(a)), dt)
    close(_dec("_linalg_cholesky_ex")(t(s), True)[0], TL.cholesky(torch.tensor(s), upper=True), dt)
    b = RNG.uniform(-1, 1, (4, 3)).astype(dtype)
    close(_dec("_linalg_solve_ex")(t(a), t(b))[0], TL.solve(torch.tensor(a), torch.tensor(b)), dt)
    for x, y in zip(_dec("_linalg_slogdet")(t(a)), TL.slogdet(torch.tensor(a))):
        close(x, y, dt)
    w, Vv = _dec("_linalg_eigh")(t(h), "L")
    close(w, TL.eigvalsh(torch.tensor(h)), dt)
    np.testing.assert_allclose(np.abs(np.sum(Vv.numpy() * TL.eigh(torch.tensor(h)).eigenvectors.numpy(), -2)), 1.0,
                               **TOL[dt])
    for shape in [(5, 3), (2, 3, 5)]:
        m = RNG.uniform(-1, 1, shape).astype(dtype)
        for mode in ("reduced", "complete", "r"):
            for x, y in zip(_dec("_linalg_qr")(t(m), mode), TL.qr(torch.tensor(m), mode)):
                close(x, y, dt)
        U, S, Vh = _dec("_linalg_svd")(t(m), True)
        tU, tS, tVh = TL.svd(torch.tensor(m))
        close(S, tS, dt)
        assert U.shape == tU.shape and Vh.shape == tVh.shape
        k = min(shape[-2:])
        np.testing.assert_allclose((U.numpy()[..., :k] * S.numpy()[..., None, :]) @ Vh.numpy()[..., :k, :], m, **TOL[dt])
    sing = t(np.stack([np.eye(3), np.array([[1.0, 2, 3], [2, 4, 6], [1, 0, 1]])]).astype(dtype))
    assert _dec("_linalg_inv_ex")(sing)[1].tolist() == TL.inv_ex(torch.tensor(sing.numpy())).info.tolist()
    chol_bad = t(np.stack([np.eye(3), np.diag([1.0, -1, 1])]).astype(dtype))
    assert _dec("_linalg_cholesky_ex")(chol_bad)[1].tolist() == TL.cholesky_ex(torch.tensor(chol_bad.numpy())).info.tolist()


def test_on_the_npy_vendor_device():
    load("npy")
    a, s = general((2, 3, 3)), spd((3, 3))
    ea = ember.tensor(a, device="npy", requires_grad=True)
    ta = torch.tensor(a, requires_grad=True)
    out = EL.inv(ea)
    assert out.device.type == "npy"
    close(out.cpu(), TL.inv(ta))
    (out * out).sum().backward()
    (TL.inv(ta) ** 2).sum().backward()
    np.testing.assert_allclose(ea.grad.cpu().numpy(), ta.grad.numpy(), rtol=1e-8, atol=1e-10)
    es = ember.tensor(s, device="npy")
    close(EL.cholesky(es).cpu(), TL.cholesky(torch.tensor(s)))
    close(EL.eigvalsh(es).cpu(), TL.eigvalsh(torch.tensor(s)))
    close(EL.svdvals(es).cpu(), TL.svdvals(torch.tensor(s)))
    close(EL.det(es).cpu(), TL.det(torch.tensor(s)))
    close(EL.qr(es).R.cpu(), TL.qr(torch.tensor(s)).R)
    with pytest.raises(EL.LinAlgError, match="Batch element 1"):
        EL.inv(ember.tensor(np.stack([np.eye(2), np.zeros((2, 2))]), device="npy"))


def test_xla_kernels_match_torch():
    pytest.importorskip("jax")
    pytest.importorskip("ember_xla")
    a, h = general((2, 3, 3)), sym((3, 3))
    ea = ember.tensor(a, device="xla")
    close(EL.inv(ea).cpu(), TL.inv(torch.tensor(a)))
    close(EL.solve(ea, ember.tensor(a[0], device="xla")).cpu(), TL.solve(torch.tensor(a), torch.tensor(a[0])))
    close(EL.det(ea).cpu(), TL.det(torch.tensor(a)))
    close(EL.eigvalsh(ember.tensor(h, device="xla")).cpu(), TL.eigvalsh(torch.tensor(h)))
    close(EL.svdvals(ea).cpu(), TL.svdvals(torch.tensor(a)))
    close(EL.qr(ea).R.cpu(), TL.qr(torch.tensor(a)).R)
    sing = np.stack([np.eye(3), np.zeros((3, 3))])
    assert EL.inv_ex(ember.tensor(sing, device="xla")).info.cpu().tolist() == [0, 1]
    with pytest.raises(EL.LinAlgError, match=r"\(Batch element 1\)"):
        EL.solve(ember.tensor(sing, device="xla"), ember.ones(2, 3, dtype=ember.float64, device="xla"))
