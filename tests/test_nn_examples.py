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


def test_best_device_is_cpu_or_an_available_accelerator():
    import train_digits
    from _device import is_accelerator
    from ember.device import registered_backends
    dev = train_digits.best_device()
    # other tests may register test backends in this process: whatever wins must be a real accelerator
    assert dev == "cpu" or is_accelerator(next(b for b in registered_backends() if b.device_type == dev)), dev
    assert sys.modules["train_digits"] is train_digits
