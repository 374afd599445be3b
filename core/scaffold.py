"""``ember new-backend NAME``: a plugin package to start a backend from.

It installs (``pip install -e ember-NAME``), shows in ``ember info``, and runs
under ``ember-conformance --backend NAME``, where every case fails with
NotImplementedError until the runtime and kernels are written.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

_PYPROJECT = '''[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "ember-{name}"
version = "0.1.0"
description = "Ember backend for device type '{name}'."
requires-python = ">=3.10"
dependencies = ["ember-core>=0.1", "numpy>=1.26"]

[project.optional-dependencies]
test = ["ember-conformance>=0.1"]

[project.entry-points."ember.backends"]
{name} = "ember_{name}.plugin"

[tool.setuptools]
packages = ["ember_{name}"]

[tool.setuptools.package-data]
ember_{name} = ["conformance-skips.txt"]
'''

_INIT = '''"""Ember backend for device type '{name}'."""

__version__ = "0.1.0"
'''

_PLUGIN = '''"""Registers device type '{name}' with Ember (the whole contract: ember.plugins.hookspecs)."""

from __future__ import annotations

from ember import dtypes as D
from ember.plugins import API_VERSION, Capabilities, hookimpl

from . import __version__
from .kernels import KERNELS
from .runtime import runtime


@hookimpl
def ember_register_backends(register):
    runtime.backend = register(
        "{name}", api_version=API_VERSION, runtime=runtime, kernels=KERNELS,
        # Declare only the dtypes your kernels handle: the others count as not applicable.
        capabilities=Capabilities(dtypes=D.all_dtypes, host_memory=False, managed_memory=False, streams=False),
    )


@hookimpl
def ember_info():
    # Shown by `ember info` and written into conformance certificates: add "device" and "driver".
    return {{"ember-{name}": __version__}}
'''

_RUNTIME = '''"""The '{name}' runtime: memory, host copies, synchronization. Replace each NotImplementedError.

A tensor is Tensor._make(storage, offset, shape, strides, dtype, device, backend):
storage is whatever you keep (a device buffer); offset and strides count elements.
"""

from __future__ import annotations


def _todo(what):
    raise NotImplementedError(f"ember-{name}: {{what}} is not written yet (ember_{name}/runtime.py)")


class Runtime:
    backend = None  # set by plugin.py when the device type registers

    def device_count(self) -> int:
        return 1

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self):
        return None

    def empty(self, shape, dtype, device):
        _todo("runtime.empty(shape, dtype, device)")

    def from_numpy(self, array, device):
        _todo("runtime.from_numpy(array, device) (host -> device)")

    def to_numpy(self, tensor):
        _todo("runtime.to_numpy(tensor) (device -> host)")

    def storage_numel(self, storage) -> int:
        _todo("runtime.storage_numel(storage)")

    def data_ptr(self, tensor) -> int:
        _todo("runtime.data_ptr(tensor)")

    def synchronize(self, device=None) -> None:
        pass


runtime = Runtime()
'''

_KERNELS = '''"""Kernels of '{name}': operator name -> kernel. Every required prim starts as a stub.

The required prims are ember.ops.prims.REQUIRED (`ember info --ops` lists them);
each one's contract is its doc (`ember.dispatch.get("add").doc`). Core applies
broadcasting, promotion and error checks before a kernel runs: a kernel only
computes. Every other operator runs through its decomposition once the prims
work; add a kernel for any of them later to make it faster.
"""

from __future__ import annotations

from ember.ops.prims import REQUIRED


def _stub(name):
    def kernel(*args):
        raise NotImplementedError(f"ember-{name}: the kernel of {{name!r}} is not written yet "
                                  f"(ember_{name}/kernels.py)")
    kernel.__name__ = name
    return kernel


#: Replace stubs with real kernels, e.g. KERNELS["add"] = add.
KERNELS = {{op_name: _stub(op_name) for op_name in REQUIRED}}
'''

_SKIPS = '''# Conformance cases this backend skips: one fnmatch pattern per line, then the reason (required).
# op/erfinv/bfloat16/*    why the backend cannot pass them
'''

_README = '''# ember-{name}

An Ember backend for device type `{name}`, from `ember new-backend {name}`.

    pip install -e .
    ember info                                  # the plugin is loaded; '{name}' is listed
    ember-conformance --backend {name} --tier 0  # runtime basics first, then --tier 1 (prims), 2, 3

Write the runtime in `ember_{name}/runtime.py`, then the prims in
`ember_{name}/kernels.py`. See Ember's docs/writing-a-backend.md.
'''


def scaffold(name: str, directory=".") -> Path:
    """Write ember-NAME/ under ``directory`` and return its path."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"backend name {name!r} must be a lowercase identifier (letters, digits, _), "
                         f"e.g. 'mydev'; it becomes the device type and the package ember_{name}")
    root = Path(directory) / f"ember-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists; choose another name or directory")
    pkg = root / f"ember_{name}"
    pkg.mkdir(parents=True)
    files = {root / "pyproject.toml": _PYPROJECT, root / "README.md": _README, pkg / "__init__.py": _INIT,
             pkg / "plugin.py": _PLUGIN, pkg / "runtime.py": _RUNTIME, pkg / "kernels.py": _KERNELS,
             pkg / "conformance-skips.txt": _SKIPS}
    for path, text in files.items():
        path.write_text(text.format(name=name))
    return root
