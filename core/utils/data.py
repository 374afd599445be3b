"""ember.utils.data: Dataset, TensorDataset, Subset, DataLoader, random_split (as torch.utils.data)."""

from __future__ import annotations

import math
import pickle
import queue as _queue
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .._tensor import Tensor
from ..errors import ShapeError
from ..nn import _random
from ..errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, UnsupportedError

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "DataLoader", "random_split", "default_collate",
           "get_worker_info"]

from .samplers import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,  # noqa: E402
                       WeightedRandomSampler)

__all__ += ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
            "BatchSampler"]

# ``ember.utils.data.distributed`` as in PyTorch: this module is not a package, so the submodule is
# registered under that name (as os registers os.path).
from . import distributed_sampler as distributed  # noqa: E402
from .distributed_sampler import DistributedSampler  # noqa: E402
import sys as _sys  # noqa: E402
_sys.modules[__name__ + ".distributed"] = distributed
__all__ += ["DistributedSampler"]


class Dataset:
    """A map-style dataset: ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index):
        raise UnsupportedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of tensors that share their first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise InvalidArgumentError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0] if tensors[0].ndim else None
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise ArgumentTypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, not a Tensor")
            if t.ndim == 0 or t.shape[0] != n:
                raise ShapeError(f"TensorDataset: all tensors must have the same size in dim 0, got shapes "
                                 f"{[tuple(x.shape) for x in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.cumulative = []
        n = 0
        for d in self.datasets:
            n += len(d)
            self.cumulative.append(n)

    def __len__(self):
        return self.cumulative[-1] if self.cumulative else 0

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexOutOfRangeError(f"index {idx} is out of range for a dataset of {len(self)} samples")
        start = 0
        for d, end in zip(self.datasets, self.cumulative):
            if idx < end:
                return d[idx - start]
            start = end


def default_collate(batch):
    """Stack tensors, turn numbers into tensors, and recurse into tuples, lists and dicts."""
    import ember
    first = batch[0]
    if isinstance(first, Tensor):
        return ember.stack(list(batch), 0)
    if isinstance(first, bool):
        return ember.tensor(list(batch), dtype=ember.bool)
    if isinstance(first, int):
        return ember.tensor(list(batch), dtype=ember.int64)
    if isinstance(first, float):
        return ember.tensor(list(batch), dtype=ember.float64)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, Sequence):
        n = len(first)
        if any(len(b) != n for b in batch):
            raise ShapeError("default_collate(): every sample in a batch must have the same number of fields")
        out = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(out) if isinstance(first, tuple) else out
    try:
        import numpy as np
        if isinstance(first, np.ndarray) or isinstance(first, np.generic):
            return ember.tensor(np.stack([np.asarray(b) for b in batch]))
    except ImportError:
        pass
    raise ArgumentTypeError(f"default_collate(): cannot batch samples of type {type(first).__name__}; pass collate_fn=")


class DataLoader:
    """Batches of a dataset: ``for x, y in DataLoader(ds, batch_size=64, shuffle=True, generator=g)``.

    With ``num_workers=0`` batches are loaded in this process; a TensorDataset with the default
    collate is then batched with one index_select per tensor instead of stacking samples. With
    ``num_workers=N`` N worker processes (``multiprocessing_context``, else Python's default start
    method) each load and collate whole batches, ``prefetch_factor`` batches ahead per worker, and
    the batches arrive in order. Tensors travel between processes as host arrays and arrive on the
    device they were made on. An exception in a worker is raised here with the worker's traceback;
    a worker that dies, or a batch slower than ``timeout`` seconds, raises RuntimeError. Workers
    start with each epoch's iterator (``persistent_workers`` is accepted; workers are not kept
    between epochs). ``pin_memory=True`` copies each batch's cpu tensors into the accelerator's
    pinned host memory; without one it warns and yields plain batches, as PyTorch does.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 **kwargs):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise InvalidArgumentError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        if prefetch_factor is not None and (num_workers == 0 or not isinstance(prefetch_factor, int)
                                            or prefetch_factor < 1):
            raise InvalidArgumentError(f"DataLoader: prefetch_factor={prefetch_factor!r} needs num_workers > 0 and must be a "
                                       f"positive int")
        if timeout < 0:
            raise InvalidArgumentError(f"DataLoader: timeout must be >= 0 seconds, got {timeout}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise InvalidArgumentError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise InvalidArgumentError("DataLoader: sampler and shuffle=True are mutually exclusive")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn = collate_fn
        self.drop_last, self.generator = drop_last, generator
        self.num_workers, self.timeout, self.worker_init_fn = num_workers, timeout, worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers else prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory, self.pin_memory_device = pin_memory, kwargs.get("pin_memory_device", "")

    def _order(self):
        n = len(self.dataset)
        if self.sampler is not None:
            return list(iter(self.sampler))
        if self.shuffle:
            return _random.randperm(n, generator=self.generator).tolist()
        return range(n)

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        bs = self.batch_size
        if bs is None:
            for i in order:
                yield i
            return
        batch = []
        for i in order:
            batch.append(i)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def _fetcher(self):
        return _Fetcher(self.dataset, self.collate_fn, self.batch_size is not None or self.batch_sampler is not None)

    def __iter__(self):
        batches = _WorkerIterator(self) if self.num_workers else self._iter_here()
        if self.pin_memory:
            from . import pin_memory as _pin   # local: only loaders that pin need it
            if _pin.pinning_available(self):
                return _pin.pinned_batches(batches)
        return batches

    def _iter_here(self):
        import ember
        ds = self.dataset
        fast = self.collate_fn is None and isinstance(ds, TensorDataset) and self.batch_size is not None
        if fast:
            dev = ds.tensors[0].device
            for b in self._batches():
                idx = ember.tensor(b, dtype=ember.int64, device=dev)
                yield tuple(t.index_select(0, idx if t.device == dev else idx.to(t.device)) for t in ds.tensors)
            return
        fetch = self._fetcher()
        for b in self._batches():
            yield fetch(b)

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class _Fetcher:
    """The batch (or, without batching, the sample) for the indices ``b``: what a worker computes.
    Only this (with worker_init_fn) goes to a worker, not the loader with its sampler and generator."""

    def __init__(self, dataset, collate_fn, batched):
        self.dataset, self.collate_fn, self.batched = dataset, collate_fn, batched

    def __call__(self, b):
        ds = self.dataset
        if not self.batched:
            return ds[b] if self.collate_fn is None else self.collate_fn(ds[b])
        return (self.collate_fn or default_collate)([ds[i] for i in b])


# -- worker processes ----------------------------------------------------------------

@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (None in the main process)."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its id, the number of workers, its seed and its copy of the dataset."""
    return _worker_info


def _rebuild_tensor(array, device, requires_grad):
    import ember
    t = ember.from_numpy(array)
    if device != "cpu":
        t = t.to(device)
    return t.requires_grad_() if requires_grad else t


def _reduce_tensor(t):
    return _rebuild_tensor, (t.detach().cpu().numpy(), str(t.device), t.requires_grad)


def _register_tensor_reduction():
    """Tensors travel between processes (worker arguments, batches) as host arrays, and arrive on the
    device they were made on. Only multiprocessing's pickler learns this: plain pickle still refuses
    tensors (ember.save is the file format)."""
    from multiprocessing.reduction import ForkingPickler

    from ..nn.parameter import Parameter
    for cls in (Tensor, Parameter):
        ForkingPickler.register(cls, _reduce_tensor)


_register_tensor_reduction()


class _WorkerError:
    """An exception raised in a worker, carried back with its traceback as text. Its class travels
    only when pickle can name it (not one defined inside a function); else RuntimeError stands in.
    ``job`` names the batch; ``sending`` says the batch was loaded but could not be pickled."""

    def __init__(self, worker_id, exc, job=None, sending=False):
        from multiprocessing.reduction import ForkingPickler
        self.worker_id, self.job, self.sending = worker_id, job, sending
        self.name, self.text = type(exc).__qualname__, "".join(traceback.format_exception(exc))
        self.type, self.unpicklable = type(exc), None
        try:
            ForkingPickler.dumps(type(exc))
        except Exception as e:  # noqa: BLE001  (a class pickle cannot import by name)
            self.type, self.unpicklable = None, f"{type(e).__name__}: {e}"

    def reraise(self):
        msg = f"DataLoader worker {self.worker_id}"
        if self.sending:
            msg += f" could not send {self.job} to the main process: pickling it raised {self.name}"
        else:
            msg += f" raised {self.name}" + (f" while loading {self.job}" if self.job else "")
        if self.type is None:
            msg += (f" (its class cannot be pickled, so it is raised here as RuntimeError: "
                    f"{self.unpicklable})")
        msg += f":\n{self.text}"
        try:
            err = (self.type or RuntimeError)(msg)
        except Exception:  # noqa: BLE001  (an exception type that takes other arguments)
            err = RuntimeError(msg)
        raise err


def _what(i, b) -> str:
    """How an error names one job: the batch and its sample indices, or the sample (no batching)."""
    if isinstance(b, (list, tuple)):
        idx = repr(list(b))
        return f"batch {i} (sample indices {idx if len(idx) <= 80 else idx[:77] + '...'})"
    return f"sample {b!r} (batch {i})"


def _pack(data, worker_id, i, b):
    """``data`` pickled here, so a batch that cannot be pickled becomes an error the main process
    raises, instead of being dropped by the queue's feeder thread while the main process waits."""
    from multiprocessing.reduction import ForkingPickler
    if isinstance(data, _WorkerError):
        return data
    try:
        return bytes(ForkingPickler.dumps(data))
    except Exception as e:  # noqa: BLE001  (reported to the main process)
        return _WorkerError(worker_id, e, job=_what(i, b), sending=True)


def _worker_loop(fetch, worker_init_fn, worker_id, num_workers, seed, index_queue, result_queue):
    global _worker_info
    import ember
    ember.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    import random
    random.seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetch.dataset)
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception as e:  # noqa: BLE001  (reported to the main process)
        result_queue.put((-1, _WorkerError(worker_id, e)))
        return
    while True:
        job = index_queue.get()
        if job is None:
            return
        i, b = job
        try:
            data = fetch(b)
        except Exception as e:  # noqa: BLE001  (reported to the main process)
            data = _WorkerError(worker_id, e, job=_what(i, b))
        result_queue.put((i, _pack(data, worker_id, i, b)))


class _WorkerIterator:
    """One epoch over a DataLoader with worker processes; batches come back in order."""

    _POLL = 1.0   # seconds between checks that the workers are alive while waiting

    def __init__(self, loader):
        import multiprocessing as mp
        ctx = loader.multiprocessing_context
        if isinstance(ctx, str):
            ctx = mp.get_context(ctx)
        elif ctx is None:
            ctx = mp.get_context()
        self.loader = loader
        self.batches = iter(loader._batches())
        self.timeout = loader.timeout
        self.results = ctx.Queue()
        self.queues, self.workers = [], []
        import ember
        kw = {} if loader.generator is None else {"generator": loader.generator}
        base = int(ember.randint(0, 2**62, (1,), **kw).item())   # worker w is seeded base + w
        n = loader.num_workers
        fetch = loader._fetcher()
        for w in range(n):
            q = ctx.Queue()
            p = ctx.Process(target=_worker_loop, args=(fetch, loader.worker_init_fn, w, n, base + w, q, self.results),
                            daemon=True)
            p.start()
            self.queues.append(q)
            self.workers.append(p)
        self.sent = self.next = 0
        self.ready: dict = {}
        self.exhausted = self.closed = False
        for _ in range(n * loader.prefetch_factor):
            self._send()

    def _send(self):
        if self.exhausted:
            return
        try:
            b = next(self.batches)
        except StopIteration:
            self.exhausted = True
            return
        self.queues[self.sent % len(self.queues)].put((self.sent, b))
        self.sent += 1

    def __iter__(self):
        return self

    def __next__(self):
        if self.next >= self.sent:
            self.close()
            raise StopIteration
        while self.next not in self.ready:
            i, data = self._get()
            if isinstance(data, _WorkerError):
                self.close()
                data.reraise()
            try:
                data = pickle.loads(data)
            except Exception as e:
                self.close()
                raise InvalidArgumentError(f"DataLoader could not unpickle batch {i} from its worker in the main "
                                           f"process: {type(e).__name__}: {e}") from e
            self.ready[i] = data
        data = self.ready.pop(self.next)
        self.next += 1
        self._send()
        return data

    def _get(self):
        import time
        deadline = time.monotonic() + self.timeout if self.timeout else None
        while True:
            wait = self._POLL if deadline is None else min(self._POLL, max(deadline - time.monotonic(), 0.0))
            try:
                return self.results.get(timeout=wait)
            except _queue.Empty:
                pass
            dead = [(w, p.exitcode) for w, p in enumerate(self.workers) if not p.is_alive()]
            if dead:
                self.close()
                w, code = dead[0]
                raise InvalidArgumentError(f"DataLoader worker {w} (pid {self.workers[w].pid}) exited unexpectedly with code "
                                           f"{code}; with large batches or many workers it may have run out of memory")
            if deadline is not None and time.monotonic() >= deadline:
                self.close()
                raise InvalidArgumentError(f"DataLoader timed out after {self.timeout} seconds waiting for batch {self.next}")

    def close(self):
        if self.closed:
            return
        self.closed = True
        for q in self.queues:
            try:
                q.put(None)
            except Exception:  # noqa: BLE001  (a queue already broken by a dead worker)
                pass
        for p in self.workers:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in (*self.queues, self.results):
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass


def random_split(dataset, lengths, generator=None):
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):  # spread the remainder round-robin, as PyTorch does
            counts[i % len(counts)] += 1
        lengths = counts
    if any(not isinstance(x, int) or x < 0 for x in lengths) or sum(lengths) != n:
        raise InvalidArgumentError(f"random_split(): lengths {lengths} must be non-negative ints summing to the dataset's "
                                   f"length {n} (or fractions summing to 1)")
    perm = _random.randperm(n, generator=generator).tolist()
    out, start = [], 0
    for ln in lengths:
        out.append(Subset(dataset, perm[start:start + ln]))
        start += ln
    return out
