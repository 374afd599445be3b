"""Utilities: data loading."""
