"""weight_norm and spectral_norm as parametrizations, as torch.nn.utils.parametrizations.

State-dict names follow PyTorch: ``parametrizations.weight.original0``/``original1``
(g and v) for weight_norm; ``parametrizations.weight.original`` and
``parametrizations.weight.0._u``/``_v`` for spectral_norm.
"""

from __future__ import annotations

from ...ops import reduction as _red
from ..module import Module, _no_grad
from ..modules import conv_more as _conv_more
from . import parametrize
from ...errors import IndexOutOfRangeError, InvalidArgumentError, UnsupportedError

__all__ = ["weight_norm", "spectral_norm", "orthogonal"]


def norm_except_dim(v, pow=2, dim=0):
    """The 2-norm of v over every dim but ``dim`` (kept, others size 1); dim=-1 means the whole tensor, as
    ATen's norm_except_dim."""
    if pow != 2:
        raise UnsupportedError(f"norm_except_dim(): only pow=2 is supported, got {pow}")
    if dim == -1:
        return (v * v).sum().sqrt()
    dim = dim + v.ndim if dim < 0 else dim
    dims = tuple(d for d in range(v.ndim) if d != dim)
    return _red.sum(v * v, dims, True).sqrt() if dims else (v * v).sqrt()


def weight_norm_compose(v, g, dim):
    """v * (g / ||v||) with the norm taken over every dim but ``dim``: ATen's _weight_norm."""
    return v * (g / norm_except_dim(v, 2, dim))


def normalize(x, eps=1e-12):
    """x / max(||x||, eps) for a vector: F.normalize(x, dim=0, eps=eps)."""
    return x / (x * x).sum().sqrt().clamp(min=eps)


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_norm_compose(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrise ``module.<name>`` as g * v / ||v||: originals ``original0`` (g) and ``original1`` (v)."""
    _check_has(module, name)
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexOutOfRangeError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got "
                                       f"{dim})")
        if n_power_iterations <= 0:
            raise InvalidArgumentError(f"Expected n_power_iterations to be positive, but got "
                                       f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with _no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight.detach())
                h, w = weight_mat.shape
                u = weight_mat.new_empty((h,)).normal_(0, 1)
                v = weight_mat.new_empty((w,)).normal_(0, 1)
            self.register_buffer("_u", normalize(u, self.eps))
            self.register_buffer("_v", normalize(v, self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        with _no_grad():
            weight_mat = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.copy_(normalize(weight_mat.mv(self._v), self.eps))
                self._v.copy_(normalize(weight_mat.t().mv(self._u), self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return normalize(weight, self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def _check_has(module, name):
    if name not in module._parameters and name not in module._buffers \
            and not parametrize.is_parametrized(module, name):
        raise InvalidArgumentError(f"Module '{module}' has no parameter or buffer with name '{name}'")


def _default_dim(module):
    transposed = tuple(getattr(_conv_more, n) for n in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
                       if hasattr(_conv_more, n))
    return 1 if transposed and isinstance(module, transposed) else 0


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its largest singular value, estimated by power iteration in training."""
    _check_has(module, name)
    weight = getattr(module, name)
    if dim is None:
        dim = _default_dim(module)
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


from ._orthogonal import orthogonal  # noqa: E402
