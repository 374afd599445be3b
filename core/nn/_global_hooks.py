"""The hooks every Module call runs (nn.modules.module.register_module_*_hook): before the module's own
hooks, in registration order. Plain dicts keyed by handle id, read by Module.__call__."""

from collections import OrderedDict

forward_pre_hooks: "OrderedDict[int, object]" = OrderedDict()
forward_hooks: "OrderedDict[int, object]" = OrderedDict()
forward_hooks_with_kwargs: dict = {}
forward_hooks_always_called: dict = {}
backward_hooks: "OrderedDict[int, object]" = OrderedDict()
backward_pre_hooks: "OrderedDict[int, object]" = OrderedDict()
