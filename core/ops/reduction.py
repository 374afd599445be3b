"""Operators: the reduction family."""
