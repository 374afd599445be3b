"""ember.fft against torch.fft: values, dtypes, norms, padding and trimming, several dims, gradients,
on cpu (numpy.fft kernels), on xla (jnp.fft kernels) and on the npy fixture (the DFT-matrix decompositions)."""

import numpy as np
import pytest

import ember
from fixture_plugins import load

torch = pytest.importorskip("torch")

NORMS = [None, "backward", "ortho", "forward"]


def _np(t):
    return t.detach().resolve_conj().numpy() if hasattr(t, "resolve_conj") else t.detach().cpu().numpy()


def _same(e, t, tol):
    assert e.dtype.name == str(t.dtype).split(".")[1]
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(e.detach().cpu().numpy(), _np(t), rtol=tol, atol=tol)


def _loss(x, lib):
    """A real loss of a real or complex result that weighs every element differently."""
    w = lib.arange(x.numel(), dtype=lib.float64 if x.dtype in (lib.float64, lib.complex128) else lib.float32,
                   device=x.device)
    w = w.reshape(x.shape) * 0.1 + 1
    if x.is_complex():
        return (lib.real(x) * w).sum() + (lib.imag(x) * w * w).sum() + (lib.abs(x) * w).sum()
    return (x * x * w).sum()


@pytest.fixture(params=["cpu", "npy", "xla"])
def device(request):
    if request.param == "npy":
        load("npy")
    if request.param == "xla":
        pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
        pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")
    return request.param


@pytest.fixture(params=["cpu", "xla"])
def native(request):
    """The devices with native transform kernels."""
    if request.param == "xla":
        pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
        pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")
    return request.param


ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 5, 12])
def test_one_dim_values_dtypes_and_gradients(device, name, norm, n):
    rng = np.random.default_rng(1)
    complex_in = name in ("irfft", "hfft")
    x = rng.standard_normal((3, 8))
    if complex_in:
        x = x + 1j * rng.standard_normal((3, 8))
    dt = np.complex64 if complex_in else np.float32
    x = x.astype(dt)
    e = ember.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    eo = getattr(ember.fft, name)(e, n=n, norm=norm)
    to = getattr(torch.fft, name)(t, n=n, norm=norm)
    _same(eo, to, 2e-4)
    _loss(eo, ember).backward()
    _loss(to, torch).backward()
    assert e.grad.dtype is e.dtype
    np.testing.assert_allclose(e.grad.cpu().numpy(), t.grad.resolve_conj().numpy(), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("name,kw", [
    ("fft2", {}), ("ifft2", {"s": (4, 5)}), ("fftn", {}), ("fftn", {"dim": (0, 2)}),
    ("ifftn", {"s": (2, 7), "dim": (-1, 0)}),
    ("rfft2", {}), ("rfftn", {"s": (3, 6)}), ("irfft2", {}), ("irfftn", {"s": (4, 9)}), ("irfftn", {"dim": (0, 1)}),
])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_multi_dim_float64_values_and_gradients(device, name, kw, norm):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6))
    if name.startswith("irfft") or name.startswith("ifft"):
        x = x + 1j * rng.standard_normal((2, 3, 6))
    e = ember.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    eo = getattr(ember.fft, name)(e, norm=norm, **kw)
    to = getattr(torch.fft, name)(t, norm=norm, **kw)
    _same(eo, to, 1e-9)
    _loss(eo, ember).backward()
    _loss(to, torch).backward()
    np.testing.assert_allclose(e.grad.cpu().numpy(), t.grad.resolve_conj().numpy(), rtol=1e-8, atol=1e-8)


def test_dtypes_follow_torch(native):
    dev = native
    assert ember.fft.rfft(ember.ones(8, device=dev)).dtype is ember.complex64
    assert ember.fft.rfft(ember.ones(8, dtype=ember.float64, device=dev)).dtype is ember.complex128
    assert ember.fft.irfft(ember.fft.rfft(ember.ones(8, device=dev))).dtype is ember.float32
    assert ember.fft.fft(ember.arange(8, device=dev)).dtype is ember.complex64  # integers: the default float first
    assert ember.fft.hfft(ember.ones(5, dtype=ember.complex128, device=dev)).dtype is ember.float64
    x = ember.arange(6, device=dev)
    np.testing.assert_allclose(ember.fft.fft(x).cpu().numpy(), torch.fft.fft(torch.arange(6)).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_round_trips_and_real_input_gradient_is_real(native):
    x = ember.randn(4, 10, dtype=ember.float64).to(native).requires_grad_()
    np.testing.assert_allclose(ember.fft.irfft(ember.fft.rfft(x), n=10).detach().cpu().numpy(),
                               x.detach().cpu().numpy(), atol=1e-12)
    np.testing.assert_allclose(ember.fft.ifft(ember.fft.fft(x)).detach().cpu().numpy(), x.detach().cpu().numpy(),
                               atol=1e-12)
    ember.abs(ember.fft.fft(x)).sum().backward()
    assert x.grad.dtype is ember.float64 and x.grad.device.type == native
    t = torch.tensor(x.detach().cpu().numpy(), requires_grad=True)
    torch.fft.fft(t).abs().sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_gradcheck_of_real_losses_in_float64(native):
    def f(x):
        return ember.view_as_real(ember.fft.rfft(x, n=7, norm="ortho"))
    x = ember.randn(3, 6, dtype=ember.float64).to(native).requires_grad_()
    assert ember.autograd.gradcheck(f, (x,))
    assert ember.autograd.gradcheck(lambda z: ember.fft.irfft(ember.view_as_complex(z), n=9), (
        ember.randn(2, 5, 2, dtype=ember.float64).to(native).requires_grad_(),))


@pytest.mark.parametrize("name,build", [
    ("fftn_four_dims", lambda m, x: m.fft.fftn(x, norm="ortho")),
    ("rfftn_four_dims", lambda m, x: m.fft.rfftn(x.real, dim=(3, 0, 2, 1))),
    ("irfftn_four_dims", lambda m, x: m.fft.irfftn(x, s=(2, 3, 4, 6))),
    ("strided_input", lambda m, x: m.fft.fft2(x.permute(3, 1, 0, 2)[:, ::2])),
    ("c2r_ignores_dc_imaginary", lambda m, x: m.fft.irfft(x.flatten()[:5], n=8)),
    ("c2r_odd_length", lambda m, x: m.fft.irfft(x.flatten()[:5], n=9, norm="forward")),
])
def test_kernels_on_edges(native, name, build):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5)) + 1j * rng.standard_normal((2, 3, 4, 5))
    for dt in (np.complex64, np.complex128):
        e = build(ember, ember.tensor(x.astype(dt), device=native))
        t = build(torch, torch.tensor(x.astype(dt)))
        assert e.device.type == native
        _same(e, t, 2e-5 if dt == np.complex64 else 1e-12)


@pytest.mark.parametrize("n,d", [(1, 1.0), (8, 1.0), (7, 0.5), (10, 2.0)])
def test_fftfreq_and_rfftfreq(n, d):
    _same(ember.fft.fftfreq(n, d), torch.fft.fftfreq(n, d), 1e-7)
    _same(ember.fft.rfftfreq(n, d), torch.fft.rfftfreq(n, d), 1e-7)
    _same(ember.fft.fftfreq(n, d, dtype=ember.float64), torch.fft.fftfreq(n, d, dtype=torch.float64), 1e-15)


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1])
def test_fftshift_and_ifftshift(dim):
    x = np.arange(35.0).reshape(5, 7)
    _same(ember.fft.fftshift(ember.tensor(x), dim=dim), torch.fft.fftshift(torch.tensor(x), dim=dim), 0)
    _same(ember.fft.ifftshift(ember.tensor(x), dim=dim), torch.fft.ifftshift(torch.tensor(x), dim=dim), 0)


def test_bad_input_raises_like_torch():
    x = ember.ones(4)
    with pytest.raises(ValueError, match="normalization"):
        ember.fft.fft(x, norm="sideways")
    with pytest.raises(ValueError, match="Invalid number of data points"):
        ember.fft.fft(x, n=0)
    with pytest.raises(TypeError, match="real input"):
        ember.fft.rfft(ember.ones(4, dtype=ember.complex64))
    with pytest.raises(IndexError):
        ember.fft.fft(x, dim=3)
    with pytest.raises(ValueError, match="unique"):
        ember.fft.fftn(ember.ones(2, 2), dim=(0, 0))
    with pytest.raises(ember.DTypeError, match="float16"):
        ember.fft.fft(ember.ones(4, dtype=ember.float16))


def test_empty_batches_keep_torch_shapes_and_dtypes(native):
    # (torch's MKL kernels refuse some empty batches, so only the result's shape and dtype are compared)
    e = ember.fft.rfft(ember.zeros(0, 3, 4, device=native), dim=1)
    assert tuple(e.shape) == (0, 2, 4) and e.dtype is ember.complex64
    e = ember.fft.ifft(ember.zeros(2, 0, 4, dtype=ember.complex128, device=native), dim=2)
    assert tuple(e.shape) == (2, 0, 4) and e.dtype is ember.complex128
    e = ember.fft.irfft(ember.zeros(0, 3, dtype=ember.complex64, device=native), n=4)
    assert tuple(e.shape) == (0, 4) and e.dtype is ember.float32


def test_xla_registers_native_kernels():
    pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
    pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")
    from ember.dispatch import get
    ember.zeros(1, device="xla")  # loads the plugin
    for name in ("_fft_c2c", "_fft_r2c", "_fft_c2r", "real", "imag", "complex", "view_as_real", "conj_physical"):
        assert get(name).implementation("xla") == "kernel"


def test_cpu_registers_native_kernels_and_npy_decomposes():
    from ember.dispatch import get
    for name in ("_fft_c2c", "_fft_r2c", "_fft_c2r"):
        assert get(name).implementation("cpu") == "kernel"
        assert get(name).implementation("npy") == "decomposition"
