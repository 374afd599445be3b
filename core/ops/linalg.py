"""Operators: the linalg family."""
