"""Operators: the sorting family."""
