"""The examples run end to end (briefly): the digits CNN and the character-level transformer."""

from __future__ import annotations

import os
import sys

import pytest

import ember

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
pytestmark = pytest.mark.skipif(not hasattr(ember.Tensor, "backward"), reason="autograd is not in this build")


@pytest.fixture(autouse=True)
def _examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)


def test_train_digits_learns(capsys):
    pytest.importorskip("sklearn")
    import train_digits
    acc = train_digits.main(["--device", "cpu", "--epochs", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert "epoch  1" in out and "test accuracy" in out and " s" in out
    assert acc > 0.85


def test_char_transformer_trains_and_samples(capsys):
    import char_transformer
    char_transformer.main(["--device", "cpu", "--steps", "3", "--sample", "20", "--block", "16", "--no-progress"])
    out = capsys.readouterr().out
    assert "--- sample ---" in out and "The keeper" in out


def test_best_device_is_a_known_device():
    import train_digits
    assert train_digits.best_device() in ("cpu", "cuda", "rocm", "xpu", "mps", "xla")
    assert sys.modules["train_digits"] is train_digits
