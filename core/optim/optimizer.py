"""Optimizer: parameter groups, per-parameter state, and its (PyTorch-layout) state dict."""

from __future__ import annotations

import copy

from ..errors import EmberError, ShapeError
from .._tensor import Tensor
from ..errors import ArgumentTypeError, InvalidArgumentError, UnsupportedError

__all__ = ["Optimizer", "OptimizerStateError"]


class OptimizerStateError(EmberError, ValueError):
    """An optimizer state dict that does not fit the optimizer (groups, parameter counts, shapes)."""


def _no_grad():
    import ember
    ng = getattr(ember, "no_grad", None)
    if ng is not None:
        return ng()
    import contextlib
    return contextlib.nullcontext()


def _scalar_dtype():
    """The dtype of scalar state such as 'step': float64 when that is the default dtype, else float32 (PyTorch's)."""
    import ember
    return ember.float64 if ember.get_default_dtype() == ember.float64 else ember.float32


def _lerp_(start, end, weight: float):
    """``start.lerp_(end, weight)`` in place with PyTorch's two-sided formula (exact at weight 0 and 1)."""
    if abs(weight) < 0.5:
        return start.add_((end - start) * weight)
    return start.copy_(end - (end - start) * (1 - weight))


class _Required:
    """The default of an argument a caller must give (PyTorch's optim.optimizer.required)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: ``step()`` updates every parameter that has a ``.grad``; ``zero_grad()`` clears them."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__}: params must be an iterable of tensors or dicts, got a single "
                                    f"Tensor; pass [tensor] or model.parameters()")
        groups = list(params)
        if not groups:
            raise InvalidArgumentError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
        g = dict(group, params=params)
        for k, v in self.defaults.items():
            if v is required and k not in g:
                raise InvalidArgumentError(f"{type(self).__name__}: parameter group didn't specify a value of required "
                                           f"optimization parameter {k!r}")
            g.setdefault(k, v)
        seen = {id(p) for pg in self.param_groups for p in pg["params"]}
        if any(id(p) in seen for p in params):
            raise InvalidArgumentError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self.param_groups.append(g)

    def zero_grad(self, set_to_none: bool = True) -> None:
        if set_to_none:
            for g in self.param_groups:
                for p in g["params"]:
                    m = getattr(p, "_ag", None)
                    if m is not None:
                        m.grad = None
            return
        for g in self.param_groups:
            for p in g["params"]:
                grad = getattr(p, "grad", None)
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if getattr(grad, "grad_fn", None) is not None:
                        grad = grad.detach()
                        p.grad = grad
                    grad.zero_()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            import ember
            eg = getattr(ember, "enable_grad", None)
            if eg is not None:
                with eg():
                    loss = closure()
            else:
                loss = closure()
        with _no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    grad = getattr(p, "grad", None)
                    if grad is None:
                        continue
                    if group.get("maximize"):
                        grad = -grad
                    self._update(p, grad, group, self.state.setdefault(p, {}))
        return loss

    def _update(self, p, grad, group, state):
        raise UnsupportedError

    # -- state dict ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}, as in PyTorch."""
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({k: v for k, v in g.items() if k != "params"} | {"params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise OptimizerStateError(f"{type(self).__name__}.load_state_dict(): expected a dict with 'state' and "
                                      f"'param_groups', got {type(state_dict).__name__} with keys "
                                      f"{list(state_dict) if isinstance(state_dict, dict) else '-'}")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise OptimizerStateError(f"{type(self).__name__}.load_state_dict(): the state dict has {len(saved)} "
                                      f"parameter group(s), the optimizer {len(self.param_groups)}")
        for i, (sg, g) in enumerate(zip(saved, self.param_groups)):
            if len(sg["params"]) != len(g["params"]):
                raise OptimizerStateError(f"{type(self).__name__}.load_state_dict(): parameter group {i} has "
                                          f"{len(sg['params'])} parameters in the state dict but "
                                          f"{len(g['params'])} in the optimizer")
        id_map = {}
        for sg, g in zip(saved, self.param_groups):
            for i, p in zip(sg["params"], g["params"]):
                id_map[i] = p
        state = {}
        for k, s in state_dict["state"].items():
            k = int(k)
            if k not in id_map:
                raise OptimizerStateError(f"{type(self).__name__}.load_state_dict(): state for parameter index "
                                          f"{k}, which no parameter group lists")
            p = id_map[k]
            state[p] = {name: self._load_value(p, k, name, v) for name, v in s.items()}
        self.state = state
        for sg, g in zip(saved, self.param_groups):
            for key, v in sg.items():
                if key != "params":
                    g[key] = v

    _state_like_params = True  # per-parameter state tensors have the parameter's shape (LBFGS: flat vectors)

    def _load_value(self, p, k, name, v):
        """One loaded state value, cast as PyTorch does: floating tensors (except 'step') to the parameter's dtype
        and device, lists and dicts element by element, anything else copied."""
        if isinstance(v, (list, tuple)):
            return type(v)(self._load_value(p, k, name, x) for x in v)
        if isinstance(v, dict):
            return {kk: self._load_value(p, k, name, x) for kk, x in v.items()}
        if not isinstance(v, Tensor):
            return copy.copy(v)
        if self._state_like_params and name != "step" and v.ndim and tuple(v.shape) != tuple(p.shape):
            raise ShapeError(f"{type(self).__name__}.load_state_dict(): state {name!r} of parameter "
                             f"{k} has shape {tuple(v.shape)}, the parameter {tuple(p.shape)}")
        if name != "step" and v.dtype.is_floating_point and p.dtype.is_floating_point:
            v = v.to(dtype=p.dtype, device=p.device)
        elif name != "step":
            v = v.to(p.device)
        return v.clone()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"
