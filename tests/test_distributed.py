"""ember.distributed: the API against torch.distributed's, the communication-backend hook, the launcher,
and 2-rank runs on loopback through ember-run: every collective against numpy on every dtype of cpu,
xla and xpu (pocl), and the fault cases (a rank raising, exiting, killed, hanging, stuck, calling
another collective), which must end within the group's timeout naming the rank."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import ember
import ember.distributed as dist
from ember.distributed import ReduceOp
from ember.distributed import run as launcher
from ember.distributed.work import completed
from ember.plugins import comm, hookimpl, hookspecs

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "distributed"
MPIEXEC = launcher.find_mpiexec()
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="needs mpi4py and Open MPI's mpiexec (pip install 'ember-core[distributed]')")


def launch(*args, timeout=150, env=None):
    """``ember-run --nproc-per-node 2 ARGS``, killed if it outlives ``timeout``."""
    e = dict(os.environ)
    e.update(env or {})
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "2", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout, env=e, cwd=HERE.parent)
    return r, time.monotonic() - start


# -- the API is PyTorch's --------------------------------------------------------------------------
PUBLIC = ["init_process_group", "new_group", "all_reduce", "broadcast", "reduce", "all_gather",
          "all_gather_into_tensor", "reduce_scatter_tensor", "gather", "scatter", "all_to_all_single", "send",
          "recv", "isend", "irecv", "barrier", "broadcast_object_list", "all_gather_object", "gather_object",
          "scatter_object_list", "get_rank", "get_world_size", "get_backend", "destroy_process_group",
          "get_group_rank", "get_global_rank", "get_process_group_ranks", "is_initialized", "is_available"]


def _default(v):
    return v.name if hasattr(v, "name") and not isinstance(v, str) else v


@pytest.mark.parametrize("name", PUBLIC)
def test_signature_matches_torch(name):
    td = pytest.importorskip("torch.distributed")
    theirs = inspect.signature(getattr(td, name)).parameters
    ours = inspect.signature(getattr(dist, name)).parameters
    public = [p for p in theirs if not p.startswith("_")]
    assert list(ours) == public, f"{name}: {list(ours)} != torch's {public}"
    for p in public:
        assert _default(ours[p].default) == _default(theirs[p].default), f"{name}({p}=...)"


def test_reduce_ops_and_constants_match_torch():
    td = pytest.importorskip("torch.distributed")
    theirs = {n for n in dir(td.ReduceOp) if n.isupper()} - {"PREMUL_SUM"}   # PREMUL_SUM: NCCL-only, absent
    assert {op.name for op in ReduceOp} == theirs
    assert dist.default_pg_timeout == td.default_pg_timeout == timedelta(minutes=30)
    assert dist.Backend("MPI") == td.Backend("MPI") == "mpi" and dist.Backend.NCCL == "nccl"
    assert dist.is_available() and not dist.is_initialized()


def test_calls_before_init_raise_naming_the_fix():
    for call in (dist.get_rank, dist.get_world_size, lambda: dist.all_reduce(ember.ones(1)), dist.barrier):
        with pytest.raises(dist.DistributedNotInitializedError, match="init_process_group") as e:
            call()
        assert isinstance(e.value, ValueError) and isinstance(e.value, ember.EmberError)


# -- the communication-backend hook ------------------------------------------------------------------
class _Solo:
    """A complete one-rank group in numpy: the contract of ember_register_comm_backends, minimally."""

    def __init__(self, name):
        self._name, self.calls = name, []

    def rank(self):
        return 0

    def size(self):
        return 1

    def name(self):
        return self._name

    def new_group(self, ranks, timeout):
        return _Solo(self._name)

    def abort(self, reason, cls=None):
        pass

    def shutdown(self):
        self.calls.append("shutdown")

    def __getattr__(self, op):   # every collective of one rank leaves its outputs as they are...
        def run(*args, **kwargs):
            self.calls.append(op)
            return completed()
        return run

    def allreduce(self, t, op, async_op=False):   # ...except AVG over one rank, which is the identity too
        self.calls.append("allreduce")
        return completed(result=[t])


class _SoloPlugin:
    @hookimpl
    def ember_register_comm_backends(self, register):
        register("solo", lambda rank, world_size, timeout, init_method: _Solo("solo"),
                 api_version=hookspecs.API_VERSION, devices=("meta",))


def test_comm_backend_hook_registers_and_serves_init_process_group():
    assert "ember_register_comm_backends" in {n for n in dir(hookspecs) if n.startswith("ember_")}
    doc = hookspecs.ember_register_comm_backends.__doc__
    for word in ("factory(rank, world_size, timeout, init_method)", "allreduce", "Work", "DistributedTimeoutError"):
        assert word in doc
    assert comm.comm_backends["mpi"].plugin == "mpi" and comm.comm_backends["mpi"].devices is None
    rec = ember.plugins.register_plugin(_SoloPlugin(), name="solo-plugin")
    try:
        assert rec.status == "loaded" and rec.comm_backends == ["solo"]
        dup = ember.plugins.register_plugin(_SoloPlugin(), name="solo-again")
        assert dup.status == "failed" and "already registered" in dup.error
        # backend=None with a device_id picks the backend that names its device type
        dist.init_process_group(timeout=timedelta(seconds=5), device_id=ember.device("meta"))
        assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
        assert dist.get_backend() == "solo" and dist.group.WORLD is dist.GroupMember.WORLD
        t = ember.ones(3)
        assert dist.all_reduce(t) is None
        w = dist.all_reduce(t, async_op=True)
        assert w.wait() and w.is_completed() and w.result() == [t]
        g = dist.new_group([0])
        assert dist.get_process_group_ranks(g) == [0] and dist.get_group_rank(g, 0) == 0
        with pytest.raises(ember.InvalidArgumentError, match=r"new_group\(ranks=\[1\]\)"):
            dist.new_group([1])
        with pytest.raises(ember.InvalidArgumentError, match="src=3"):
            dist.broadcast(t, src=3)
        with pytest.raises(dist.DistributedError, match="already initialised"):
            dist.init_process_group("solo")
        impl = dist.group.WORLD._impl
        dist.destroy_process_group()
        assert not dist.is_initialized() and "shutdown" in impl.calls
    finally:
        dist.destroy_process_group()
        comm.unregister([comm.comm_backends["solo"]])
        ember.plugins.manager.pm.unregister(name="solo-plugin")
        for name in ("solo-plugin", "solo-again"):
            ember.plugins.manager.records.pop(name, None)


def test_unknown_backend_names_the_registered_ones():
    with pytest.raises(ember.RegistrationError, match="registered: .*mpi"):
        dist.init_process_group("carrier-pigeon")


# -- the launcher ------------------------------------------------------------------------------------
def test_launcher_command_line_single_and_multi_node():
    args = launcher._parser().parse_args(["--nproc-per-node", "4", "train.py", "--lr", "0.1"])
    cmd = launcher.build_command(args, "mpiexec")
    assert cmd[:3] == ["mpiexec", "-n", "4"] and "--with-ft" in cmd and cmd[-3:] == ["train.py", "--lr", "0.1"]
    assert any(c.endswith("_rank.py") for c in cmd) and "-I" in cmd
    args = launcher._parser().parse_args(["--nnodes", "2", "--nproc-per-node", "8", "--hostfile", "hosts", "-m", "pkg.train"])
    cmd = launcher.build_command(args, "mpiexec")
    assert cmd[:3] == ["mpiexec", "-n", "16"] and cmd[cmd.index("--hostfile") + 1] == "hosts"
    assert "ppr:8:node" in cmd and "MASTER_ADDR" in cmd and cmd[-2:] == ["-m", "pkg.train"]


def test_launcher_refuses_bad_arguments(capsys):
    assert launcher.main(["--mpiexec", "/nonexistent/mpiexec", "x.py"]) == 2
    assert "mpiexec not found" in capsys.readouterr().err
    assert launcher.main(["--nnodes", "2", "x.py"]) == 2
    assert "--hostfile" in capsys.readouterr().err


# -- 2 ranks on loopback ---------------------------------------------------------------------------------
@needs_mpi
def test_every_collective_on_every_device_and_dtype():
    devices = "cpu,xla,xpu"
    r, took = launch(WORKERS / "collectives_worker.py", devices,
                     env={"EMBER_XPU_PLATFORM": "Portable Computing Language"})
    out = r.stdout
    assert r.returncode == 0 and out.count("ALL OK") == 2, f"rc={r.returncode}\n{out}\n{r.stderr[-6000:]}"
    checks = {}
    for line in out.splitlines():
        if line.startswith("CHECKS"):
            _, dev, n = line.split()
            checks[dev] = max(checks.get(dev, 0), int(n))
    assert checks["general"] >= 19 and checks["cpu"] >= 230, checks
    assert checks.get("xla", 0) >= 230 or "SKIP xla" in out, out
    assert checks.get("xpu", 0) >= 150 or "SKIP xpu" in out, out


FAULTS = {  # mode: (what rank 0's error or the launcher's summary must say)
    "raise": r"rank 1 failed with ValueError: boom on rank 1",
    "exit": r"rank 1 exited with code 3",
    "kill": r"rank 1 was killed by SIGKILL",
    "hang": r"CAUGHT DistributedTimeoutError after \d+\.\ds: all_reduce \(collective #2\) did not complete within 2 s "
            r"on rank 0 .*rank 1 is running its own code",
    "stuck": r"CAUGHT DistributedTimeoutError .*rank 1 did not answer",
    "mismatch": r"rank \d waits in (barrier|all_reduce) \(collective #2\): the ranks called different operations",
    "async": r"CAUGHT DistributedTimeoutError .*rank 1 is running its own code",
}


@needs_mpi
@pytest.mark.parametrize("mode", list(FAULTS))
def test_a_failing_rank_ends_the_job_naming_it(mode):
    r, took = launch(WORKERS / "faults_worker.py", mode, timeout=60)
    text = r.stdout + r.stderr
    assert r.returncode != 0, text
    assert re.search(FAULTS[mode], text), text
    assert took < 20, f"the job took {took:.1f} s to end"
    if mode in ("raise", "hang", "stuck"):
        assert "[rank" in r.stderr and "Traceback" in r.stderr   # the failing rank's traceback, tagged


@needs_mpi
def test_a_killed_rank_raises_a_named_error_in_the_others_under_plain_mpiexec():
    """Without ember-run's supervisors, Open MPI's fault tolerance reports the death to the survivors."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run([MPIEXEC, "--with-ft", "ulfm", "-n", "2", sys.executable, str(WORKERS / "faults_worker.py"), "kill"],
                       capture_output=True, text=True, timeout=60, env=env, cwd=HERE.parent)
    # (mpiexec's own exit code is 0 here: in fault-tolerant mode Open MPI expects survivors to recover)
    assert "CAUGHT DistributedError after 0." in r.stdout and "rank 1 died" in r.stdout, r.stdout + r.stderr


@needs_mpi
def test_allreduce_bench_runs_and_prints_ratios():
    r = subprocess.run([sys.executable, str(HERE.parent / "bench" / "allreduce.py"), "--max-mib", "1", "--repeat", "1"],
                       capture_output=True, text=True, timeout=120, cwd=HERE.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if re.match(r"\s*\d+ (KiB|MiB) ", line)]
    assert len(rows) == 6 and all(row[-1].endswith("x") for row in rows), r.stdout
    assert "lowest ratio from 1 MiB up" in r.stdout
