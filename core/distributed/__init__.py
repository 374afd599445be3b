"""``ember.distributed``: process groups and collectives (PyTorch's ``torch.distributed`` API).

Communication backends are plugins (``ember_register_comm_backends``); core registers its MPI
backend, which serves every device type, through that same hook. Start the ranks with
``ember-run --nproc-per-node N script.py`` (or ``python -m ember.distributed.run``).
"""

from __future__ import annotations

from .. import plugins as _plugins
from ..errors import DistributedError, DistributedNotInitializedError, DistributedTimeoutError
from . import mpi as _mpi
from .collectives import (all_gather, all_gather_into_tensor, all_reduce, all_to_all_single, barrier, broadcast,
                          gather, irecv, isend, recv, reduce, reduce_scatter_tensor, scatter, send)
from .objects import all_gather_object, broadcast_object_list, gather_object, scatter_object_list
from .process_group import (Backend, GroupMember, ProcessGroup, default_pg_timeout, destroy_process_group,
                            get_backend, get_global_rank, get_group_rank, get_process_group_ranks, get_rank,
                            get_world_size, group, init_process_group, is_available, is_backend_available,
                            is_gloo_available, is_initialized, is_mpi_available, is_nccl_available, new_group)
from .reduce_op import ReduceOp, reduce_op
from .work import Work

#: PyTorch's names for the errors of this package.
DistError = DistributedError
DistBackendError = DistributedError

_plugins.register_plugin(_mpi, name="mpi")

__all__ = [
    "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "all_to_all_single", "barrier",
    "broadcast", "broadcast_object_list", "gather", "gather_object", "irecv", "isend", "recv", "reduce",
    "reduce_scatter_tensor", "scatter", "scatter_object_list", "send", "Backend", "GroupMember", "ProcessGroup",
    "default_pg_timeout", "destroy_process_group", "get_backend", "get_global_rank", "get_group_rank",
    "get_process_group_ranks", "get_rank", "get_world_size", "group", "init_process_group", "is_available",
    "is_backend_available", "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available",
    "new_group", "ReduceOp", "reduce_op", "Work", "DistError", "DistBackendError", "DistributedError",
    "DistributedNotInitializedError", "DistributedTimeoutError",
]
