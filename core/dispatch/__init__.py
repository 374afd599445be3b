"""The dispatcher: keys, schemas, operators and their tables."""

from . import keys
from .keys import AUTOCAST, AUTOGRAD, META, PYTHON, DispatchKey
from .operator import Operator, defop, get, impl, register_kernel, registry, set_kernel_checks, state
from .schema import parse_schema

__all__ = ["keys", "DispatchKey", "META", "AUTOGRAD", "AUTOCAST", "PYTHON", "Operator",
           "defop", "get", "impl", "register_kernel", "registry", "state", "parse_schema", "set_kernel_checks"]
