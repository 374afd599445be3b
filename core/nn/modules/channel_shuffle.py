"""nn.ChannelShuffle and F.channel_shuffle: interleave the channels of ``groups`` groups (ShuffleNet)."""

from __future__ import annotations

from ...errors import InvalidArgumentError
from ..module import Module

__all__ = ["ChannelShuffle", "channel_shuffle", "native_channel_shuffle"]


def channel_shuffle(input, groups):
    """(N, g*k, *) -> view as (N, g, k, *), swap g and k, flatten back: channel j*g + i comes from i*k + j."""
    if input.ndim <= 2:
        raise InvalidArgumentError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                                   f"{list(input.shape)}")
    if groups <= 0:
        raise InvalidArgumentError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c = input.shape[0], input.shape[1]
    if c % groups != 0:
        raise InvalidArgumentError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} "
                                   f"groups.")
    rest = tuple(input.shape[2:])
    return input.reshape((n, groups, c // groups) + rest).transpose(1, 2).reshape((n, c) + rest)


native_channel_shuffle = channel_shuffle


class ChannelShuffle(Module):
    """Divide the channels of a (N, C, *) tensor into ``groups`` groups and interleave them."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
