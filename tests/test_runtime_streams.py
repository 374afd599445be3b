"""Streams, events, device selection, per-type modules and stream-ordered copies.

Device-side behaviour is checked on the "counting" fixture backend
(tests/fixtures/plugins/counting), whose streams are queues of deferred work
that run only when something waits for them; cpu shows the synchronous case.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ember

from counting import load_counting  # noqa: E402


@pytest.fixture(scope="module")
def counting():
    return load_counting()


@pytest.fixture
def dev(counting):
    d = ember.device("counting:0")
    ember.synchronize(d)
    return d


def values(counting, t):
    """What a counting tensor's memory holds right now, without waiting for any stream."""
    return counting.runtime.view(t).tolist()


# -- streams -------------------------------------------------------------------------------------

def test_default_and_current_streams(dev):
    d0 = ember.default_stream(dev)
    assert ember.current_stream(dev) is d0 is ember.default_stream("counting:0")
    assert d0.device == dev and d0.handle is not None and "default" in repr(d0)
    s = ember.Stream(dev)
    assert s != d0 and s.handle is not d0.handle and s.device == dev
    with ember.stream(s):
        assert ember.current_stream(dev) is s
        assert ember.current_stream() is s              # no device: the innermost stream context's
        inner = ember.Stream(dev)
        with inner:                                      # ``with s:`` works too
            assert ember.current_stream(dev) is inner
        assert ember.current_stream(dev) is s
    assert ember.current_stream(dev) is d0
    with ember.stream(None):                              # a no-op, as torch.cuda.stream(None)
        assert ember.current_stream(dev) is d0
    ember.set_stream(s)
    assert ember.current_stream(dev) is s
    ember.set_stream(d0)
    assert ember.current_stream(dev) is d0
    other = ember.default_stream("counting:1")
    assert other is not d0 and other.device == ember.device("counting:1")
    with pytest.raises(TypeError, match="ember.Stream or None"):
        ember.stream("s")


def test_current_stream_is_per_thread(dev):
    s = ember.Stream(dev)
    seen = []
    with ember.stream(s):
        t = threading.Thread(target=lambda: seen.append(ember.current_stream(dev)))
        t.start()
        t.join()
        assert ember.current_stream(dev) is s
    assert seen == [ember.default_stream(dev)]


def test_hot_current_stream_lookup_matches_current_stream(dev, monkeypatch):
    """``_current_stream_of`` (per launch and allocation): before any thread made a stream current it
    reads only the defaults; after, the calling thread's own current stream."""
    from ember.runtime import streams as S
    d0, d1 = ember.default_stream(dev), ember.default_stream("counting:1")
    dev1 = ember.device("counting:1")
    monkeypatch.setattr(S, "_only_defaults", True)        # as in a process that never used a stream
    assert S._current_stream_of(dev) is d0 and S._current_stream_of(dev1) is d1
    s = ember.Stream(dev)
    assert S._only_defaults                              # creating a stream changes nothing
    with ember.stream(s):
        assert not S._only_defaults
        assert S._current_stream_of(dev) is s is ember.current_stream(dev)
        assert S._current_stream_of(dev1) is d1          # other devices keep their default
        seen = []
        t = threading.Thread(target=lambda: seen.append(S._current_stream_of(dev)))
        t.start()
        t.join()
        assert seen == [d0]                              # other threads keep theirs
    assert S._current_stream_of(dev) is d0
    monkeypatch.setattr(S, "_only_defaults", True)
    ember.set_stream(d0)                                 # making the default current changes nothing
    assert S._only_defaults
    ember.set_stream(s)
    try:
        assert not S._only_defaults and S._current_stream_of(dev) is s
    finally:
        ember.set_stream(d0)
    assert S._current_stream_of(dev) is d0 is ember.current_stream(dev)
    assert S._current_stream_of(ember.device("cpu")) is ember.default_stream("cpu")
    for only_defaults in (True, False):                 # allocate() resolves the stream the same way
        monkeypatch.setattr(S, "_only_defaults", only_defaults)
        a = ember.runtime.allocate(dev, 100)
        assert a.stream is d0
        with ember.stream(s):
            b = ember.runtime.allocate(dev, 100)
            assert b.stream is s
        c = ember.runtime.allocate(dev, 100)
        assert c.stream is d0
        del a, b, c


def test_work_is_queued_and_runs_in_stream_order(counting, dev):
    s = ember.Stream(dev)
    x = ember.zeros(4, device=dev)
    ember.synchronize(dev)
    with ember.stream(s):
        x.fill_(1.0)
        y = ember.empty(4, device=dev)
        y.copy_(x)                                       # queued after the fill on the same stream
    assert not s.query() and values(counting, x) == [0.0] * 4
    s.synchronize()
    assert s.query() and values(counting, y) == [1.0] * 4


def test_wait_stream_and_events_order_work_across_streams(counting, dev):
    s1, s2 = ember.Stream(dev), ember.Stream(dev)
    x = ember.zeros(3, device=dev)
    y = ember.zeros(3, device=dev)
    ember.synchronize(dev)
    with ember.stream(s1):
        x.fill_(7.0)
    s2.wait_stream(s1)                                   # s2's later work waits for the fill
    with ember.stream(s2):
        y.copy_(x)
    s2.synchronize()                                     # runs s1 up to the fill first
    assert values(counting, y) == [7.0] * 3
    assert s1.query()
    # the same with an explicit event
    ev = ember.Event()
    assert ev.query()                                    # never recorded: complete
    with ember.stream(s1):
        x.fill_(9.0)
        ev.record()                                      # on the current stream, s1
    assert not ev.query()
    s2.wait_event(ev)
    with ember.stream(s2):
        y.copy_(x)
    ev.synchronize()
    assert ev.query() and values(counting, x) == [9.0] * 3 and not s2.query()
    s2.synchronize()
    assert values(counting, y) == [9.0] * 3


def test_event_timing_on_counting_and_cpu(counting, dev):
    s = ember.Stream(dev)
    a, b = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    a.record(s)
    s.handle.put(lambda: time.sleep(0.02))               # 20 ms of "device" work
    b.record(s)
    assert not b.query()
    ms = a.elapsed_time(b)                               # waits for both events
    assert 15.0 <= ms < 2000.0 and a.device == dev
    assert "complete" in repr(b)
    c, d = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    c.record(ember.Stream("cpu"))
    time.sleep(0.01)
    d.record(ember.current_stream("cpu"))
    assert c.query() and 5.0 <= c.elapsed_time(d) < 2000.0
    plain = ember.Event()
    plain.record(s)
    with pytest.raises(ValueError, match="enable_timing=True"):
        plain.elapsed_time(b)
    with pytest.raises(ValueError, match="never recorded"):
        ember.Event(enable_timing=True).elapsed_time(b)
    with pytest.raises(ValueError, match="first recorded on counting:0"):
        a.record(ember.Stream("counting:1"))
    with pytest.raises(ValueError, match="different devices"):
        c.elapsed_time(b)
    e = ember.default_stream(dev).record_event()
    assert isinstance(e, ember.Event)


def test_synchronize_waits_for_every_stream(counting, dev):
    streams = [ember.Stream(dev) for _ in range(3)]
    xs = [ember.zeros(2, device=dev) for _ in streams]
    ember.synchronize(dev)
    for s, x in zip(streams, xs):
        with ember.stream(s):
            x.fill_(3.0)
    assert not any(s.query() for s in streams)
    ember.synchronize(dev)
    assert all(s.query() for s in streams) and all(values(counting, x) == [3.0, 3.0] for x in xs)
    ember.counting.synchronize(0)
    ember.synchronize("cpu")
    ember.synchronize()                                  # the default device (cpu)


def test_streams_on_a_device_without_streams():
    s = ember.Stream("cpu")
    assert s.handle is None and s.query() and s.device == ember.device("cpu")
    s.synchronize()
    with ember.stream(s):
        assert ember.current_stream("cpu") is s
        x = ember.ones(3) * 2                            # work is synchronous
    assert x.tolist() == [2.0] * 3
    e = s.record_event()
    e.wait(ember.default_stream("cpu"))
    e.synchronize()
    assert e.query()
    s.wait_stream(ember.default_stream("cpu"))


# -- copies ------------------------------------------------------------------------------------

def test_non_blocking_copies_are_queued_on_the_current_stream(counting, dev):
    s = ember.Stream(dev)
    host = ember.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    with ember.stream(s):
        y = host.to(dev, non_blocking=True)
        assert not s.query()                             # the upload waits in s
        back = (y.to("cpu", non_blocking=True))
        assert back.device == ember.device("cpu")
    s.synchronize()
    assert back.tolist() == host.tolist()
    with ember.stream(s):
        z = host.to(dev)                                 # blocking: done on return
        assert s.query()
        assert z.to("cpu").tolist() == host.tolist() and s.query()


def test_copies_cast_and_handle_strided_views(counting, dev):
    a = np.arange(12.0).reshape(3, 4)
    x = ember.tensor(a)
    assert x.t().to(dev).tolist() == a.T.tolist()
    assert x.to(dev, dtype=ember.int32).tolist() == a.astype(np.int32).tolist()
    d = ember.zeros(4, 3, device=dev)
    d.copy_(x.t())
    assert d.tolist() == a.T.tolist()
    dt = ember.zeros(3, 4, device=dev).t()                # a strided device destination
    dt.copy_(x.t())
    assert dt.tolist() == a.T.tolist()
    h = ember.zeros(4, 3, dtype=ember.float64)
    h.copy_(d.to(ember.float32))
    assert h.tolist() == a.T.tolist()
    ht = ember.zeros(3, 4).t()                            # a strided host destination
    ht.copy_(d)
    assert ht.tolist() == a.T.tolist()
    row = ember.zeros(2, 3, device=dev)
    row.copy_(ember.tensor([1.0, 2.0, 3.0]))             # broadcast from the host
    assert row.tolist() == [[1.0, 2.0, 3.0]] * 2
    assert ember.ones(2, device="counting:0").to("counting:1").tolist() == [1.0, 1.0]


# -- devices ---------------------------------------------------------------------------------------

def test_set_device_and_device_guard(counting):
    assert ember.current_device("counting") == 0
    assert ember.ones(1, device="counting").device == ember.device("counting:0")
    with ember.device_guard("counting:1"):
        assert ember.current_device("counting") == 1
        assert ember.ones(1, device="counting").device == ember.device("counting:1")
        assert ember.current_stream("counting").device == ember.device("counting:1")
        assert ember.counting.current_device() == 1
    assert ember.current_device("counting") == 0
    ember.set_device("counting:1")
    try:
        assert ember.zeros(1, device="counting").device == ember.device("counting:1")
        seen = []
        t = threading.Thread(target=lambda: seen.append(ember.current_device("counting")))
        t.start()
        t.join()
        assert seen == [0]                                # the current device is per thread
    finally:
        ember.set_device("counting:0")
    with ember.counting.device(1):
        assert ember.current_device("counting") == 1
    s = ember.Stream("counting:1")
    with ember.stream(s):                                 # a stream context makes its device current
        assert ember.current_device("counting") == 1
    assert ember.current_device("counting") == 0
    with pytest.raises(ember.UnknownDeviceError, match="counting:5 is out of range"):
        ember.set_device("counting:5")
    with ember.device_guard(None):
        pass


def test_one_device_object_however_spelled(counting):
    # Runtime state (allocators, streams, generators) is keyed by device: one object per device.
    a = ember.device("counting", 1)
    assert a is ember.device("counting:1")
    b = ember.device("spelled:3")
    assert ember.device("spelled", 3) is b
    assert ember.default_stream(ember.device("counting", 1)) is ember.default_stream("counting:1")


def test_device_count_and_device_modules(counting):
    assert ember.device_count("counting") == 2 == ember.counting.device_count()
    assert ember.device_count("cpu") == 1 and ember.device_count() == 1
    assert ember.counting.is_available() and ember.cpu.is_available()
    assert repr(ember.counting) == "<ember device module 'counting'>"
    assert ember.counting is ember.counting
    assert ember.counting.default_stream() is ember.default_stream("counting:0")
    assert ember.counting.current_stream(1) is ember.default_stream("counting:1")
    assert isinstance(ember.counting.Stream(), ember.Stream)
    assert ember.counting.Event is ember.Event
    assert ember.counting.get_device_name(1) == "counting:1" and ember.cpu.get_device_name() == "cpu"
    free, total = ember.counting.mem_get_info()
    assert 0 <= free <= total == counting.runtime.arena(0).capacity
    with pytest.raises(NotImplementedError, match="mem_get_info"):
        ember.cpu.mem_get_info()
    with pytest.raises(ember.UnknownDeviceError, match="take counting devices, got cpu"):
        ember.counting.set_device("cpu")
    with pytest.raises(AttributeError, match="no attribute 'not_a_device'"):
        ember.not_a_device
    assert not hasattr(ember, "_private_thing")
    with pytest.raises(ember.UnknownDeviceError, match="'nosuch'"):
        ember.device_count("nosuch")


def test_catalogued_but_missing_or_unavailable_backends_answer_without_raising():
    from importlib import metadata
    try:
        metadata.distribution("ember-rocm")
        installed = True
    except metadata.PackageNotFoundError:
        installed = False
    if installed and ember.rocm.is_available():
        pytest.skip("an AMD GPU is present")
    assert ember.rocm.is_available() is False
    assert ember.rocm.device_count() == 0 and ember.device_count("rocm") == 0
    error = ember.BackendUnavailableError if installed else ember.BackendNotInstalledError
    with pytest.raises(error, match="ember-rocm"):
        ember.rocm.synchronize()


def test_no_vendor_name_in_core_runtime_code():
    """Device types come from plugins: core's runtime code names no vendor (its docs may use examples)."""
    import ast
    core = Path(ember.__file__).resolve().parent / "runtime"
    for path in core.glob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        words = []
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings:
                words.append(n.value)
            elif isinstance(n, ast.Name):
                words.append(n.id)
            elif isinstance(n, ast.Attribute):
                words.append(n.attr)
        code = " ".join(words).lower()
        for vendor in ("cuda", "rocm", "hip", "xpu", "opencl", "nvidia", "intel"):
            assert vendor not in code, (path.name, vendor)
