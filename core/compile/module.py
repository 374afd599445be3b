"""``OptimizedModule``: what ``ember.compile(module)`` returns."""

from __future__ import annotations

from ..nn.module import Module

__all__ = ["OptimizedModule"]


class OptimizedModule(Module):
    """A Module whose calls run the compiled ``_orig_mod`` (its forward and hooks, traced together).
    Parameters, buffers and attributes are the original module's (as in PyTorch, state_dict keys gain
    the prefix ``_orig_mod.``)."""

    def __init__(self, mod, compiled):
        super().__init__()
        self._orig_mod = mod
        self.__dict__["_compiled"] = compiled

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_modules"]["_orig_mod"], name)

    def __repr__(self):
        return f"OptimizedModule({self._orig_mod!r})"
