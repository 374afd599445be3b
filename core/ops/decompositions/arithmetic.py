"""(being written)"""
from .. import elementwise as E
from ..prims import elementwise_decomposition


@elementwise_decomposition("gt")
def _gt(a, b):
    return E.lt(b, a)
