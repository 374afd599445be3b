"""nn.utils.prune: zero out entries of a parameter through a mask, as torch.nn.utils.prune.

Pruning ``module.<name>`` moves the parameter to ``<name>_orig``, adds a ``<name>_mask`` buffer and a
forward pre-hook that sets the plain attribute ``module.<name> = <name>_orig * <name>_mask`` before each
call, so gradients reach only the kept entries. Pruning the same tensor again prunes among the entries
still kept (a PruningContainer holds the history); ``remove`` makes the pruning permanent.
"""

from __future__ import annotations

import numbers

from ...errors import InvalidArgumentError
from ...ops.creation import ones_like, zeros_like
from ...ops.random import rand_like
from ..module import _no_grad
from ...errors import ArgumentTypeError, UnsupportedError

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
           "identity", "random_unstructured", "l1_unstructured", "remove", "is_pruned"]


def _validate_pruning_amount_init(amount):
    if not isinstance(amount, numbers.Real):
        raise ArgumentTypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise InvalidArgumentError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount, tensor_size):
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise InvalidArgumentError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _compute_nparams_toprune(amount, tensor_size):
    if isinstance(amount, numbers.Integral):
        return amount
    return round(amount * tensor_size)


class BasePruningMethod:
    """A way of choosing entries to prune: ``compute_mask(t, default_mask)`` says which to keep."""

    PRUNING_TYPE = None
    _tensor_name: str

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    def compute_mask(self, t, default_mask):
        raise UnsupportedError

    def apply_mask(self, module):
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        old_method = None
        found = 0
        hooks_to_remove = []
        for k, hook in module._forward_pre_hooks.items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                old_method = hook
                hooks_to_remove.append(k)
                found += 1
        if found > 1:
            raise InvalidArgumentError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                                       f"{module}. Use a PruningContainer.")
        for k in hooks_to_remove:
            del module._forward_pre_hooks[k]
        method = cls(*args, **kwargs)
        method._tensor_name = name
        if old_method is not None:
            if isinstance(old_method, PruningContainer):
                old_method.add_pruning_method(method)
                method = old_method
            else:
                container = PruningContainer(old_method)
                container.add_pruning_method(method)
                method = container
        orig = getattr(module, name)
        if importance_scores is not None and tuple(importance_scores.shape) != tuple(orig.shape):
            raise InvalidArgumentError(f"importance_scores should have the same shape as parameter {name} of {module}")
        if old_method is None:
            module.register_parameter(name + "_orig", orig)
            default_mask = ones_like(orig)
            module._parameters.pop(name, None)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            scores = importance_scores if importance_scores is not None else orig
            with _no_grad():
                mask = method.compute_mask(scores.detach(), default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module._forward_pre_hooks[_next_hook_id(module)] = method
        except Exception:
            if old_method is None:
                orig = getattr(module, name + "_orig")
                module._parameters.pop(name + "_orig", None)
                module.__dict__.pop(name, None)
                module.register_parameter(name, orig)
            raise
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """The pruned copy of ``t`` (not stored anywhere)."""
        scores = importance_scores if importance_scores is not None else t
        default_mask = default_mask if default_mask is not None else ones_like(t)
        return t * self.compute_mask(scores, default_mask=default_mask)

    def remove(self, module):
        """Make the pruning permanent: ``<name>`` becomes a parameter holding the pruned values."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module)
        module.__dict__.pop(self._tensor_name, None)
        orig = module._parameters[self._tensor_name + "_orig"]
        with _no_grad():
            orig.copy_(weight.detach())
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        module.register_parameter(self._tensor_name, orig)


def _next_hook_id(module):
    from ..module import RemovableHandle
    h = RemovableHandle(module._forward_pre_hooks)
    return h.id


class PruningContainer(BasePruningMethod):
    """The sequence of pruning methods applied to one tensor; each new one prunes among the kept entries."""

    def __init__(self, *args):
        self._pruning_methods = ()
        if len(args) == 1 and not isinstance(args[0], (tuple, list)):
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        elif len(args) == 1 and isinstance(args[0], (tuple, list)):
            self._tensor_name = args[0][0]._tensor_name
            for method in args[0]:
                self.add_pruning_method(method)
        else:
            self._tensor_name = args[0]._tensor_name
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise ArgumentTypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise InvalidArgumentError(f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' to "
                                       f"PruningContainer. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        method = self._pruning_methods[-1]
        if method.PRUNING_TYPE != "unstructured":
            raise UnsupportedError(f"{type(method).__name__}: only unstructured pruning is implemented in Ember")
        keep = default_mask == 1
        flat_t = t.reshape(-1)
        flat_keep = keep.reshape(-1)
        idx = flat_keep.nonzero().reshape(-1)
        partial = method.compute_mask(flat_t.index_select(0, idx), default_mask=ones_like(idx, dtype=t.dtype))
        new = default_mask.detach().clone().reshape(-1).to(partial.dtype)
        new = new.index_put((idx,), partial)
        return new.reshape(default_mask.shape).to(default_mask.dtype)


class Identity(BasePruningMethod):
    """Prunes nothing (a mask of ones)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


def _prune_lowest(scores, default_mask, nparams_toprune):
    mask = default_mask.clone()
    if nparams_toprune != 0:
        import ember
        idx = ember.topk(scores.reshape(-1), nparams_toprune, largest=False).indices
        flat = mask.reshape(-1)
        flat = flat.index_put((idx,), zeros_like(idx, dtype=flat.dtype))
        mask = flat.reshape(mask.shape)
    return mask


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` entries (a count, or a fraction of them) chosen at random."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        tensor_size = t.numel()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        return _prune_lowest(rand_like(t), default_mask, nparams_toprune)

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the ``amount`` entries (a count, or a fraction of them) of smallest absolute value."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        tensor_size = t.numel()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        return _prune_lowest(t.abs(), default_mask, nparams_toprune)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def identity(module, name):
    """Register a mask of ones on ``module.<name>`` (pruning machinery without pruning)."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune ``amount`` random entries of ``module.<name>``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune the ``amount`` entries of ``module.<name>`` with the smallest |importance_scores| (default: the
    tensor itself)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def remove(module, name):
    """Make the pruning of ``module.<name>`` permanent and drop ``<name>_orig``, ``<name>_mask`` and the hook."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise InvalidArgumentError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module):
    """True when ``module`` or a submodule has a pruning hook."""
    for _, submodule in module.named_modules():
        for hook in submodule._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False
