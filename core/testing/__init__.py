"""ember.testing: assertions for tests, as torch.testing."""

from ._comparison import assert_close  # noqa: F401

__all__ = ["assert_close"]
