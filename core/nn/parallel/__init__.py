"""ember.nn.parallel, as torch.nn.parallel: DistributedDataParallel (defined in ember.distributed.ddp).

Resolved on first use, so that ``import ember`` does not import ``ember.distributed``.
"""

from ...errors import AttributeNotFoundError

__all__ = ["DistributedDataParallel"]


def __getattr__(name):
    if name == "DistributedDataParallel":
        from ...distributed.ddp import DistributedDataParallel
        globals()[name] = DistributedDataParallel
        return DistributedDataParallel
    raise AttributeNotFoundError(f"module 'ember.nn.parallel' has no attribute {name!r}; it provides "
                                 f"{', '.join(__all__)}")


def __dir__():
    return sorted(list(globals()) + __all__)
