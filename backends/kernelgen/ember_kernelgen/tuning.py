"""Per-device kernel choices, measured once and cached on disk (GEMM tiles in gemm.py, reduction kernels in
reduction.py): a JSON file in the kernel cache directory, one entry per (dialect, device, fingerprint of the
candidates' source), so a changed kernel is measured again."""

from __future__ import annotations

import json
import os
import tempfile


def load(path) -> dict:
    """The tuning file's entries ({} when it is missing or unreadable)."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def store(path, entry_key, value) -> None:
    """Add one entry to the tuning file (read, update, atomic replace); silently skipped if unwritable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = load(path)
        data[entry_key] = value
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass


def choice(path, entry, candidates, measure, describe, untuned):
    """The cached choice under ``entry`` when it is still a candidate; else ``measure()`` ({choice: seconds})
    decides, and the fastest is stored with every timing. ``untuned`` when nothing could be measured."""
    known = load(path).get(entry)
    if isinstance(known, dict):
        c = tuple(known.get("choice", ()))
        if c in candidates:
            return c
    timings = measure()
    if not timings:
        return untuned
    best = min(timings, key=timings.get)
    store(path, entry, {"choice": list(best), "ms": {describe(c): round(t * 1e3, 3) for c, t in timings.items()}})
    return best


def device_choice(b, device, cache: dict, env: str, parse, tuned, untuned):
    """A device's choice, kept in ``cache``: the environment variable ``env`` (through ``parse``) where set,
    else ``tuned(b, device, key)`` where the driver names the device (``tune_key``), else ``untuned``."""
    c = cache.get(device)
    if c is None:
        spec = os.environ.get(env, "").strip()
        if spec:
            c = parse(spec)
        else:
            key_fn = getattr(b.d, "tune_key", None)
            key = key_fn(device) if key_fn is not None else None
            c = tuned(b, device, key) if key else untuned
        cache[device] = c
    return c
