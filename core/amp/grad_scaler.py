"""``ember.amp.GradScaler``: loss scaling for float16 training, as PyTorch's.

The loss is multiplied by a scale so that small float16 gradients do not flush
to zero; ``unscale_`` divides the gradients back and records, on the device,
whether any is inf or NaN; ``step`` reads that flag once (the only host read of
the step) and skips the optimizer's step when it is set; ``update`` backs the
scale off after a skipped step and grows it after ``growth_interval`` good ones,
with device operators only.
"""

from __future__ import annotations

import enum
import warnings
from collections import defaultdict

from .. import dtypes as D
from .._tensor import Tensor
from ..errors import AmpError, InvalidArgumentError

__all__ = ["GradScaler", "OptState"]

_FIX = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."


class OptState(enum.Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state() -> dict:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """Scales the loss, unscales gradients, skips steps whose gradients are not finite, and adapts the
    scale: ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled:
            from .autocast_mode import _available
            why = _available(device)
            if why is not None:
                warnings.warn(f"ember.amp.GradScaler is enabled, but device type {device!r} is not available "
                              f"({why}).  Disabling.", stacklevel=2)
                self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise AmpError(f"GradScaler(): the growth factor must be > 1.0, got {growth_factor}")
            if not backoff_factor < 1.0:
                raise AmpError(f"GradScaler(): the backoff factor must be < 1.0, got {backoff_factor}")
            self._init_scale = float(init_scale)
            self._scale = None
            self._growth_factor = float(growth_factor)
            self._backoff_factor = float(backoff_factor)
            self._growth_interval = int(growth_interval)
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._per_optimizer_states = defaultdict(_fresh_state)

    def __repr__(self):
        return f"GradScaler(device={self._device!r}, enabled={self._enabled})"

    def _check(self, funcname: str):
        if self._scale is None:
            raise AmpError(f"GradScaler: attempted {funcname} but _scale is None.  {_FIX}")
        if self._growth_tracker is None:
            raise AmpError(f"GradScaler: attempted {funcname} but _growth_tracker is None.  {_FIX}")
        return self._scale, self._growth_tracker

    def _lazy_init(self, dev) -> None:
        from ..ops.creation import full
        self._scale = full((), self._init_scale, dtype=D.float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=D.int32, device=dev)

    # -- scaling ----------------------------------------------------------------
    def scale(self, outputs):
        """``outputs`` (a tensor, or an iterable of tensors) multiplied by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:  # on the first output's device, as PyTorch
                self._lazy_init(outputs.device)
            return outputs * self._scale.to(outputs.device)

        def apply(v):
            if isinstance(v, Tensor):
                return self.scale(v)
            if isinstance(v, (list, tuple)):
                return type(v)(apply(x) for x in v)
            if hasattr(v, "__iter__") and not isinstance(v, (str, bytes, dict)):
                return map(apply, v)
            raise InvalidArgumentError(f"GradScaler.scale(): outputs must be a Tensor or an iterable of Tensors, "
                                       f"got {type(v).__name__}")
        return apply(outputs)

    def _unscale_grads_(self, optimizer, inv_scale, allow_fp16: bool) -> dict:
        """Multiply every gradient by ``inv_scale`` in place; per device, a float32 0-d flag that is 1.0
        when some gradient there is not finite (computed on the device, read by step)."""
        from ..autograd.grad_mode import no_grad
        from ..ops.shape import stack
        flags: dict = defaultdict(list)
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if not allow_fp16 and g.dtype is D.float16:
                        raise InvalidArgumentError(
                            "GradScaler.unscale_(): attempting to unscale FP16 gradients; keep the parameters "
                            "in float32 (autocast casts them for the forward pass) so gradients are float32")
                    dev = g.device
                    g.mul_(inv_scale if inv_scale.device == dev else inv_scale.to(dev))
                    flags[dev].append(g.isfinite().all())
            return {dev: stack(fs).all().logical_not().to(D.float32) for dev, fs in flags.items()}

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale (once per step; step calls it if you did not)."""
        if not self._enabled:
            return
        self._check("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise AmpError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise AmpError("unscale_() is being called after step().")
        s = self._scale
        wide = D.float64 if D.float64 in _backend_dtypes(s) else D.float32
        inv_scale = s.to(wide).reciprocal().to(D.float32)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` unless the unscaled gradients hold an inf or NaN; returns its result or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise AmpError("Closure use is not currently supported if GradScaler is enabled.")
        self._check("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise AmpError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        found = state["found_inf_per_device"]
        if not found:
            raise AmpError("GradScaler.step(): no inf checks were recorded for this optimizer (none of its "
                           "parameters has a gradient); call backward() on the scaled loss first")
        retval = None
        if not sum(v.item() for v in found.values()):  # the step's one host read (per device)
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """Set the scale for the next step: ``new_scale`` if given, else backed off after a skipped step and
        grown after ``growth_interval`` steps in a row without one."""
        if not self._enabled:
            return
        scale, tracker = self._check("update")
        if new_scale is not None:
            if isinstance(new_scale, (int, float)) and not isinstance(new_scale, bool):
                scale.fill_(float(new_scale))
            else:
                if not (isinstance(new_scale, Tensor) and new_scale.device.type == self._device
                        and new_scale.numel() == 1 and not new_scale.requires_grad):
                    raise AmpError("new_scale should be a float or a 1-element ember tensor on the scaler's device "
                                   f"type ({self._device!r}) with requires_grad=False; got {new_scale!r}")
                scale.copy_(new_scale.reshape(()))
        else:
            found = [f.to(scale.device) for st in self._per_optimizer_states.values()
                     for f in st["found_inf_per_device"].values()]
            if not found:
                raise AmpError("GradScaler.update(): no inf checks were recorded prior to update(); call "
                               "scaler.step(optimizer) (or unscale_) first")
            combined = found[0]
            for f in found[1:]:
                combined = combined + f
            self._update_scale(scale, tracker, combined)
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _update_scale(self, scale, tracker, found_inf) -> None:
        """PyTorch's _amp_update_scale_ as device operators: no host read."""
        from ..ops.creation import zeros_like
        from ..ops.elementwise import where
        inf = found_inf > 0
        zero = zeros_like(tracker)
        counted = where(inf, zero, tracker + 1)
        grow = counted == self._growth_interval
        grown = scale * self._growth_factor
        kept = where(grow & grown.isfinite(), grown, scale)
        scale.copy_(where(inf, scale * self._backoff_factor, kept))
        tracker.copy_(where(grow, zero, counted))

    # -- settings and state -------------------------------------------------------
    def get_scale(self) -> float:
        """The current scale as a float (a host read), 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """{'scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker'}; {} if disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise AmpError("The source state dict is empty, possibly because it was saved from a disabled "
                           "instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale.fill_(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(self._init_growth_tracker)


def _backend_dtypes(t) -> tuple:
    return tuple(t._backend.capabilities.dtypes) if getattr(t, "_backend", None) is not None else D.all_dtypes
