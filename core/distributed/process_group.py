"""The process groups of this process: the default one (``init_process_group``) and ``new_group``s.

A ``ProcessGroup`` is the handle users pass as ``group=``; it holds the global ranks of its members
and the communication backend's group object (see ``ember_register_comm_backends`` for what that
object implements), which only ever sees ranks local to the group.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import timedelta

from ..errors import (DistributedError, DistributedNotInitializedError, InvalidArgumentError,
                      RegistrationError)
from ..plugins import comm as _comm
from ..plugins import manager as _manager

#: PyTorch's default: how long a collective may wait for the other ranks before it fails.
default_pg_timeout = timedelta(minutes=30)

#: Names PyTorch programs pass that Ember serves with another backend: Gloo's role (every device
#: through host memory) is MPI's here.
_ALIASES = {"gloo": "mpi"}


class Backend(str):
    """A communication backend's name (PyTorch's ``torch.distributed.Backend``): ``Backend("MPI")``
    is ``"mpi"``; ``Backend.register_backend`` adds one from Python without a plugin package."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    def __new__(cls, name: str):
        if not isinstance(name, str):
            raise InvalidArgumentError(f"Backend(): the name must be a string, got {type(name).__name__}")
        return str.__new__(cls, name.lower())

    @classmethod
    def register_backend(cls, name, func, extended_api=False, devices=None):
        """Register ``func(rank, world_size, timeout, init_method)`` as backend ``name`` (see
        ``ember_register_comm_backends`` for the contract of the group object it returns)."""
        if extended_api:
            raise InvalidArgumentError(
                f"Backend.register_backend({name!r}): extended_api=True (PyTorch's store-based "
                f"factory) is not supported; take (rank, world_size, timeout, init_method)")
        rec = _manager.records.get("python") or _manager.PluginRecord("python", "python", "-")
        _comm.make_register(rec, [], _manager._check_api_version)(
            name.lower(), func, api_version=_manager.hookspecs.API_VERSION, devices=devices)
        setattr(cls, name.upper(), name.lower())


class ProcessGroup:
    """A group of ranks that communicate together (the ``group=`` of every collective)."""

    __slots__ = ("_impl", "_ranks", "_index", "_backend", "_timeout", "_name")

    def __init__(self, impl, ranks, backend: str, timeout, name: str):
        self._impl = impl
        self._ranks = tuple(ranks)              # global rank of each group rank
        self._index = {g: i for i, g in enumerate(self._ranks)}
        self._backend = backend
        self._timeout = timeout
        self._name = name

    def rank(self) -> int:
        return self._impl.rank()

    def size(self) -> int:
        return len(self._ranks)

    def name(self) -> str:
        return self._backend

    @property
    def group_name(self) -> str:
        return self._name

    def __repr__(self):
        return f"<ember.distributed.ProcessGroup {self._name} backend={self._backend} ranks={list(self._ranks)}>"


class _NonGroupMember:
    """What ``new_group`` returns on a rank outside the group (PyTorch's ``GroupMember.NON_GROUP_MEMBER``)."""

    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    """``GroupMember.WORLD`` is the default group once initialised (None before)."""

    WORLD = None
    NON_GROUP_MEMBER = _NonGroupMember()


class _GroupNamespace:
    """``ember.distributed.group.WORLD``: the default group, read when used."""

    @property
    def WORLD(self):
        return GroupMember.WORLD


group = _GroupNamespace()

_groups: list = []   # every live ProcessGroup of this process, the default one first


def is_available() -> bool:
    """True: ``ember.distributed`` is always built (whether a backend can run is a separate question)."""
    return True


def is_initialized() -> bool:
    return GroupMember.WORLD is not None


def is_backend_available(backend: str) -> bool:
    """True where a communication backend of that name is registered (loading plugins to find it)."""
    name = _ALIASES.get(backend.lower(), backend.lower())
    if name not in _comm.comm_backends:
        _manager.load_all()
    return name in _comm.comm_backends


def is_mpi_available() -> bool:
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    return is_backend_available("nccl")


def is_gloo_available() -> bool:
    return False


def _resolve_backend(backend, device_id):
    if backend is None:   # the first backend serving device_id's type, else MPI (which serves all)
        dtype = getattr(device_id, "type", None)
        if dtype is not None:
            _manager.load_all()
        backend = next((c.name for c in _comm.comm_backends.values() if c.devices and dtype in c.devices), "mpi")
    if ":" in str(backend):   # PyTorch's "cpu:gloo,cuda:nccl": one backend per device type
        names = {part.split(":", 1)[1].strip().lower() for part in str(backend).split(",")}
        names = {_ALIASES.get(n, n) for n in names}
        if len(names) != 1:
            raise InvalidArgumentError(
                f"init_process_group(backend={backend!r}): Ember runs one communication backend per "
                f"group; pass one name (\"mpi\" serves every device type)")
        backend = names.pop()
    name = str(backend).lower()
    name = _ALIASES.get(name, name)
    entry = _comm.comm_backends.get(name)
    if entry is None:
        _manager.load_all()   # a plugin not loaded yet may provide it (nccl comes with ember-cuda)
        entry = _comm.comm_backends.get(name)
    if entry is None:
        known = ", ".join(sorted(_comm.comm_backends)) or "none"
        raise RegistrationError(
            f"init_process_group(): unknown communication backend {backend!r}; registered: {known}. "
            f"Install the plugin that provides it (nccl: ember-cuda)")
    return entry


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the job's default process group (PyTorch's signature). With the MPI backend, rank and
    world size come from ``mpiexec`` (``ember-run`` starts the ranks); given ones must agree."""
    if GroupMember.WORLD is not None:
        raise DistributedError("init_process_group(): the default process group is already initialised; "
                               "call destroy_process_group() first to re-initialise it")
    if store is not None:
        raise InvalidArgumentError("init_process_group(store=...): Ember has no key-value stores; "
                                   "leave store=None (the backend finds its peers itself)")
    if timeout is None:
        timeout = default_pg_timeout
    elif not isinstance(timeout, timedelta):
        raise InvalidArgumentError(f"init_process_group(timeout={timeout!r}): expected a datetime.timedelta")
    init_method = init_method or "env://"
    if init_method.startswith("env://"):
        rank = rank if rank != -1 else int(os.environ.get("RANK", -1))
        world_size = world_size if world_size != -1 else int(os.environ.get("WORLD_SIZE", -1))
    entry = _resolve_backend(backend, device_id)
    impl = entry.factory(rank, world_size, timeout, init_method)
    world = ProcessGroup(impl, range(impl.size()), entry.name, timeout, group_name or "WORLD")
    _groups.append(world)
    GroupMember.WORLD = world


def destroy_process_group(group=None) -> None:
    """Release ``group`` (the default: every group, after which init_process_group may run again)."""
    if group is None or group is GroupMember.WORLD:
        for g in reversed(_groups):
            g._impl.shutdown()
        _groups.clear()
        GroupMember.WORLD = None
    elif isinstance(group, ProcessGroup) and group in _groups:
        group._impl.shutdown()
        _groups.remove(group)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None, sort_ranks=True):
    """A group of the given global ranks (every rank of the default group must call it, in the same
    order); group rank i is the i-th of ``ranks`` (sorted unless ``sort_ranks=False``). Ranks outside
    it get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _world("new_group")
    n = world.size()
    ranks = list(range(n)) if ranks is None else [int(r) for r in ranks]
    if sort_ranks:
        ranks.sort()
    bad = [r for r in ranks if not 0 <= r < n]
    if bad or len(set(ranks)) != len(ranks) or not ranks:
        raise InvalidArgumentError(
            f"new_group(ranks={ranks}): ranks must be distinct, non-empty and in [0, {n}) "
            f"(the default group's world size)")
    if backend is not None and _ALIASES.get(str(backend).lower(), str(backend).lower()) != world._backend:
        raise InvalidArgumentError(
            f"new_group(backend={backend!r}): Ember's groups share the default group's backend "
            f"{world._backend!r}; leave backend=None")
    timeout = timeout or world._timeout
    impl = world._impl.new_group(ranks, timeout)
    if impl is None:
        return GroupMember.NON_GROUP_MEMBER
    g = ProcessGroup(impl, ranks, world._backend, timeout, group_desc or f"group{len(_groups)}")
    _groups.append(g)
    return g


def _world(what: str) -> ProcessGroup:
    w = GroupMember.WORLD
    if w is None:
        raise DistributedNotInitializedError(
            f"{what}(): the default process group has not been initialised; call "
            f"ember.distributed.init_process_group() first (and start the ranks with ember-run)")
    return w


def resolve(group, what: str):
    """The ProcessGroup a ``group=`` argument means, or None where this rank is outside it."""
    if group is None or group is GroupMember.WORLD:
        return _world(what)
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if isinstance(group, ProcessGroup):
        if group not in _groups:
            raise DistributedError(f"{what}(): {group!r} was destroyed; create a new group")
        return group
    raise InvalidArgumentError(f"{what}(group={group!r}): expected a ProcessGroup from new_group(), or None")


def get_rank(group=None) -> int:
    g = resolve(group, "get_rank")
    return -1 if g is None else g.rank()


def get_world_size(group=None) -> int:
    g = resolve(group, "get_world_size")
    return -1 if g is None else g.size()


def get_backend(group=None) -> str:
    g = resolve(group, "get_backend")
    if g is None:
        raise InvalidArgumentError("get_backend(): this rank is not in the group it was asked about")
    return Backend(g._backend)


def get_process_group_ranks(group) -> list:
    return list(resolve(group, "get_process_group_ranks")._ranks)


def get_group_rank(group, global_rank: int) -> int:
    g = resolve(group, "get_group_rank")
    r = g._index.get(global_rank)
    if r is None:
        raise InvalidArgumentError(
            f"get_group_rank(): global rank {global_rank} is not in {g!r}; pick one of {list(g._ranks)}")
    return r


def get_global_rank(group, group_rank: int) -> int:
    g = resolve(group, "get_global_rank")
    if not 0 <= group_rank < len(g._ranks):
        raise InvalidArgumentError(
            f"get_global_rank(): group rank {group_rank} is outside [0, {len(g._ranks)}) of {g!r}")
    return g._ranks[group_rank]
