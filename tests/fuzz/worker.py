"""The fuzz worker: a long-lived subprocess that runs each case in Ember (cpu) and in torch and sends
back what each did, as plain data: the outputs and the inputs after the call as numpy arrays, or the
exception's type and message. A case that crashes or hangs the process takes only the worker down;
the parent sees it die or go quiet and starts another."""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # two workers share two cores: one thread each

import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from .case import Arr, DType, leaves, tree_map  # noqa: E402
from .torch_ops import TORCH_CONTIGUOUS  # noqa: E402

#: Operator names the harness's own tests use to check that crashes and hangs are caught.
SELFTEST = {"__crash__": lambda: os.abort(), "__hang__": lambda: time.sleep(3600)}


def ember_callable(opname):
    """The public function of an operator where it is the native fast path's wrapper of it (ember.add,
    ember.sum, ...: the calls users make), else the operator's generated function."""
    import ember
    from ember.dispatch import fast
    op = ember.dispatch.get(opname)
    public = getattr(ember, opname, None)
    if fast.enabled() and isinstance(public, fast._fast.FastOp) and fast._op_of(public.__wrapped__,
                                                                                ember.dispatch.registry) is op:
        return public
    return op.fn


class Side:
    """How one library makes tensors, dtypes and numpy arrays; Ember and torch each get one."""

    def __init__(self, name):
        self.name = name
        if name == "ember":
            import ember
            self.lib = ember
            self.Tensor = ember.Tensor
        else:
            import torch
            torch.set_num_threads(1)
            self.lib = torch
            self.Tensor = torch.Tensor

    def dtype(self, name):
        return getattr(self.lib, name)

    def tensor(self, a: np.ndarray):
        a = np.array(a, order="C", copy=True)  # (ascontiguousarray would make a 0-d array 1-d)
        if self.name == "ember":
            return self.lib.tensor(a)
        if a.dtype.name == "bfloat16":
            return self.lib.from_numpy(a.astype(np.float32)).to(self.lib.bfloat16)
        return self.lib.from_numpy(a.copy())

    def numpy(self, t) -> np.ndarray:
        if self.name == "ember":
            a = t.detach().numpy() if t.requires_grad else t.numpy()
        else:
            t = t.detach().resolve_conj().resolve_neg()
            a = (t.float() if t.dtype == self.lib.bfloat16 else t).numpy()
        a = np.array(a, copy=True)
        return a.astype(np.float32) if a.dtype.name == "bfloat16" else a

    def dtype_name(self, t) -> str:
        return t.dtype.name if self.name == "ember" else str(t.dtype).replace("torch.", "")


def place(side: Side, x: Arr):
    """A tensor of ``side`` holding ``x.values`` in ``x.layout``."""
    v = x.values
    if x.layout == "contiguous" or v.ndim == 0:
        return side.tensor(v)
    if x.layout == "transposed":
        rev = tuple(range(v.ndim - 1, -1, -1))
        return side.tensor(v.transpose(rev)).permute(rev)
    if x.layout == "stepped":
        big = np.zeros(tuple(2 * n + 1 for n in v.shape), dtype=v.dtype)
        sl = tuple(slice(1, None, 2) for _ in v.shape)
        big[sl] = v
        return side.tensor(big)[sl]
    if x.layout == "expanded":
        return side.tensor(np.take(v, [0], axis=x.dim)).expand(*v.shape)
    raise ValueError(f"unknown layout {x.layout!r}")


#: numpy dtype a Python number becomes when torch needs it as a 0-d tensor (PyTorch keeps a Python
#: float in double precision: so does the wrap).
_WRAP = {bool: np.bool_, int: np.int64, float: np.float64, complex: np.complex128}


class Number:
    """A Python number torch must get as a 0-d tensor, of the dtype torch gives the number against
    the call's first tensor (``torch.result_type``): a Python number's promotion, not a 0-d tensor's."""

    def __init__(self, value):
        self.value = value


def wrap_numbers(case, schema):
    """The case with each Python number given for a Tensor parameter marked: torch's functions
    (maximum, atan2, logical_or, ...) refuse numbers there; Ember takes them as PyTorch's own
    operators (+, *, ...) do. This is Ember's one documented widening of torch's signatures."""
    args = list(case.args)
    for i, a in enumerate(args):
        if i < len(schema.arguments) and schema.arguments[i].is_tensor and type(a) in _WRAP:
            args[i] = Number(a)
    return type(case)(case.op, tuple(args), case.kwargs, case.sample)


def _number_tensor(side, value, first, op_name=""):
    """A 0-d torch tensor for a Python number: of the dtype the number takes against ``first`` where
    it fits there unchanged (so a 0-d ``first`` keeps its dtype), else of the number's own kind (a
    0-d tensor does not promote a dimensioned one of the same kind: -1 against uint8 stays -1)."""
    torch = side.lib
    if op_name.startswith("logical_"):
        return torch.tensor(bool(value))  # only the number's truth counts
    if first is not None:
        dt = torch.result_type(first, value)
        t = torch.tensor(value, dtype=dt)
        if dt.is_floating_point or dt.is_complex or t.item() == value or value != value or first.dim() == 0:
            return t  # (a 0-d first: the number wraps into its dtype, as torch.add(uint8 0-d, -1) does)
    return torch.tensor(value, dtype=torch.from_numpy(np.asarray(value, dtype=_WRAP[type(value)])).dtype)


def build(side: Side, case):
    made = []

    def conv(a):
        if isinstance(a, Arr):
            t = place(side, a)
            made.append(t)
            return t
        if isinstance(a, DType):
            return side.dtype(a.name)
        return a
    args = tree_map(conv, case.args)
    if any(isinstance(a, Number) for a in args):
        first = next((t for t in leaves(args) if isinstance(t, side.Tensor)), None)
        args = tuple(_number_tensor(side, a.value, first, case.op) if isinstance(a, Number) else a for a in args)
    if side.name == "torch" and case.op in TORCH_CONTIGUOUS:
        args = tree_map(lambda t: t.contiguous() if isinstance(t, side.Tensor) else t, args)
    kwargs = tree_map(conv, case.kwargs)
    if kwargs.get("device", None) == "<device>":
        kwargs["device"] = "cpu"
    return args, kwargs, made


def summarize(side: Side, x):
    """Outputs as data: ("T", dtype, shape, array) for a tensor, ("V", value) for anything else."""
    out = []
    for leaf in leaves(x if isinstance(x, (tuple, list)) else (x,)):
        if isinstance(leaf, side.Tensor):
            out.append(("T", side.dtype_name(leaf), tuple(leaf.shape), side.numpy(leaf)))
        elif isinstance(leaf, (bool, int, float, complex, str, type(None))):
            out.append(("V", leaf))
        else:
            out.append(("V", f"<{type(leaf).__name__}>"))
    return out


def describe_error(e: BaseException, side: Side) -> tuple:
    from ember.errors import EmberError
    msg = str(e).strip()
    where = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:]) if side.name == "ember" else ""
    return ("E", type(e).__name__, isinstance(e, EmberError), msg[:400], where[-1500:])


def run_side(side: Side, case, fn):
    """("ok", outputs, inputs after the call) or the error description."""
    if case.op in SELFTEST:
        SELFTEST[case.op]()
    try:
        args, kwargs, made = build(side, case)
    except Exception as e:  # noqa: BLE001  (the harness could not make the inputs: reported, not judged)
        return ("E", "HarnessError", False, f"{type(e).__name__}: {e}", "")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            out = fn(*args, **kwargs)
            return ("ok", summarize(side, out), [(side.dtype_name(t), side.numpy(t)) for t in made])
        except Exception as e:  # noqa: BLE001
            return describe_error(e, side)


def serve(conn):
    """Answer each case with two messages, ("ember", outcome) then ("torch", outcome), until the pipe
    closes."""
    import ember

    from .torch_ops import torch_callable
    sides = {"ember": Side("ember"), "torch": Side("torch")}
    conn.send("ready")
    while True:
        try:
            case = conn.recv()
        except EOFError:
            return
        e_fn = ember_callable(case.op) if case.op not in SELFTEST else None
        got = run_side(sides["ember"], case, e_fn)
        conn.send(("ember", got))  # before torch runs: a crash in torch is then known to be torch's
        t_fn = torch_callable(case.op)
        want = run_side(sides["torch"], case, t_fn)
        if want[0] == "E" and want[1] == "TypeError" and "must be Tensor, not" in want[3]:
            want = run_side(sides["torch"], wrap_numbers(case, ember.dispatch.get(case.op).schema), t_fn)
        conn.send(("torch", want))
