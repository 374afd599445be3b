"""Conv3d, the transposed convolutions and the Fold/Unfold layers, with PyTorch's parameters and names."""

from __future__ import annotations

from .. import functional as F
from ..module import Module
from .conv import _ConvNd, _ntuple
from ...errors import InvalidArgumentError


class Conv3d(_ConvNd):
    """Cross-correlation over (D, H, W); weight (out_channels, in_channels/groups, kD, kH, kW)."""
    _nd = 3

    def forward(self, input):
        return self._conv_forward(input, F.conv3d)


class _ConvTransposeNd(_ConvNd):
    """The base of ConvTranspose1d/2d/3d: weight (in_channels, out_channels/groups, *kernel_size)."""
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise InvalidArgumentError(f'{name}: only "zeros" padding mode is supported, got padding_mode={padding_mode!r}')
        if isinstance(padding, str):
            raise InvalidArgumentError(f"{name}: padding must be an int or a tuple of ints, got {padding!r}")
        self.output_padding = _ntuple(output_padding, self._nd)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """output_padding, or the one that makes the output output_size (its last nd entries count)."""
        if output_size is None:
            return self.output_padding
        n = self._nd
        output_size = list(output_size)[-n:] if len(output_size) > n else list(output_size)
        if len(output_size) != n:
            raise InvalidArgumentError(f"{type(self).__name__}: output_size must have {n} or {n + 2} elements, got "
                                       f"{len(output_size)}")
        spatial = tuple(input.shape[-n:])
        lo = [(spatial[i] - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] *
              (self.kernel_size[i] - 1) + 1 for i in range(n)]
        hi = [lo[i] + self.stride[i] - 1 for i in range(n)]
        for i in range(n):
            if not lo[i] <= output_size[i] <= hi[i]:
                raise InvalidArgumentError(f"{type(self).__name__}: requested an output size of {tuple(output_size)}, but "
                                           f"valid sizes range from {tuple(lo)} to {tuple(hi)} (for an input of {spatial})")
        return tuple(output_size[i] - lo[i] for i in range(n))


class ConvTranspose1d(_ConvTransposeNd):
    _nd = 1

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    _nd = 2

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    _nd = 3

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


class Unfold(Module):
    """Sliding local blocks of a batched image as columns: (N, C, H, W) -> (N, C*kH*kW, L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """The adjoint of Unfold: sums columns back into an image of output_size (overlaps add up)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
