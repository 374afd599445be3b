"""Automatic differentiation: graph nodes, the engine, grad modes, forward AD, gradcheck."""
