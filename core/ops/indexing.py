"""Operators: the indexing family."""
