"""A backend's skips file: ``conformance-skips.txt`` in its plugin's package.

One case pattern (fnmatch: ``*`` and ``?``) per line, then whitespace, then the
reason, which is required. Blank lines and lines starting with ``#`` are ignored.

    op/erfinv/bfloat16/*      bfloat16 has too few bits for erfinv near +-1
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

FILENAME = "conformance-skips.txt"


class SkipsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Skip:
    pattern: str
    reason: str
    line: int


def parse(text: str, source: str = FILENAME) -> list[Skip]:
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise SkipsFileError(f"{source}:{n}: the skip {parts[0]!r} has no reason; write the pattern, then "
                                 f"why the backend cannot pass those cases")
        out.append(Skip(parts[0], parts[1].strip(), n))
    return out


def skips_path(backend):
    """Where the backend's skips file lives: next to its plugin module, in its top-level package."""
    from ember.plugins import manager
    plugin = manager.pm.get_plugin(backend.plugin) if backend.plugin else None
    module = getattr(plugin, "__name__", None) or ""
    package = module.partition(".")[0]
    if not package:
        return None
    try:
        return resources.files(package).joinpath(FILENAME)
    except (ModuleNotFoundError, TypeError):
        f = getattr(plugin, "__file__", None)
        return Path(f).with_name(FILENAME) if f else None


def load(backend) -> tuple[list[Skip], str | None]:
    """(skips, path) of a backend; no file means no skips."""
    path = skips_path(backend)
    if path is None or not path.is_file():
        return [], None
    return parse(path.read_text(), str(path)), str(path)


def match(skips: list[Skip], case_id: str) -> Skip | None:
    for s in skips:
        if fnmatch.fnmatchcase(case_id, s.pattern):
            return s
    return None
