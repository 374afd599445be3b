"""Operators: the shape family."""
