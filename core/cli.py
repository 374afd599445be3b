"""The ``ember`` command. ``ember info`` says what is installed and what runs where.

The facts are gathered once as plain data (``collect``), then written as plain
text, or as tables with ``rich`` when it is installed and the output is a
terminal. Subcommands are argparse subparsers, one function each.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata

_ENV_VARS = ("EMBER_PLUGINS", "EMBER_PLUGINS_AUTOLOAD", "EMBER_PLUGINS_CATALOGUE")
_IMPL_CODE = {"kernel": "K", "decomposition": "D", "missing": "-"}


def _version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _safe(fn, default=None):
    """Call a plugin's runtime method; a plugin's failure is reported, never raised."""
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001  (anything a plugin raises is shown, not fatal)
        return default, f"{type(e).__name__}: {e}"


def implementation(op, backend) -> str:
    """How ``op`` runs on ``backend``: 'kernel', 'decomposition' or 'missing'.

    A backend with a fallback entry (the meta device runs each operator's meta
    function) has a kernel for every operator that is not a view.
    """
    how = op.implementation(backend.device_type)
    if how != "kernel" and backend.fallback_entry is not None and not op.is_view:
        return "kernel"
    return how


def op_kind(op) -> str:
    return "prim" if op.is_prim else ("view" if op.is_view else "composite")


# -- facts ---------------------------------------------------------------------

def collect(ops: bool = False) -> dict:
    """Everything ``ember info`` shows, as plain data. Loads every allowed plugin."""
    import ember
    from .device import registered_backends
    from .dispatch import registry
    from .plugins import manager
    from .plugins.catalogue import catalogue, install_hint

    records = manager.plugin_records()
    facts: dict = {
        "versions": [("ember-core", ember.__version__),
                     ("Python", f"{platform.python_implementation()} {platform.python_version()} "
                                f"({sys.executable})"),
                     ("numpy", _version_of("numpy")),
                     ("ml_dtypes", _version_of("ml_dtypes")),
                     ("pluggy", _version_of("pluggy")),
                     ("platform", platform.platform())],
        "env": [(k, os.environ[k]) for k in _ENV_VARS if k in os.environ],
        "autoload": manager.autoload_enabled(),
        "plugins": [],
        "devices": [],
        "coverage": [],
        "ops": None,
    }

    for rec in records:
        extra = {}
        plugin = manager.pm.get_plugin(rec.name) if rec.status == "loaded" else None
        hook = getattr(plugin, "ember_info", None)
        if hook is not None:
            got, err = _safe(hook, {})
            extra = {str(k): str(v) for k, v in (got or {}).items()} if err is None else {"ember_info": err}
        facts["plugins"].append({
            "name": rec.name, "distribution": rec.distribution, "version": rec.version,
            "status": rec.status, "error": rec.error, "traceback": rec.traceback,
            "hooks": list(rec.hooks), "device_types": list(rec.device_types), "info": extra})

    backends = sorted(registered_backends(), key=lambda b: b.key.index)
    for b in backends:
        rt = b.runtime
        available, err = _safe(rt.is_available, False)
        count, err2 = _safe(rt.device_count, 0)
        reason = err or err2
        if not reason and not available:
            reason, err3 = _safe(rt.unavailable_reason)
            reason = reason or err3 or "the runtime gives no reason"
        facts["devices"].append({
            "type": b.device_type, "status": "available" if available and not err else "unavailable",
            "count": count, "plugin": f"{b.distribution} {b.version}", "reason": reason,
            "notes": list(getattr(b.capabilities, "notes", ()))})

    registered = {b.device_type for b in backends}
    for device_type, entry in catalogue().items():
        if device_type in registered:
            continue
        dist = entry["distribution"]
        rec = next((r for r in records if r.distribution == dist or r.name == device_type), None)
        if rec is not None and rec.status in ("failed", "disabled"):
            status, reason = f"plugin {rec.status}", rec.error
        elif not facts["autoload"]:
            status, reason = "not loaded", "EMBER_PLUGINS_AUTOLOAD=0: no plugin was loaded"
        else:
            status, reason = "not installed", install_hint(device_type)
        facts["devices"].append({"type": device_type, "status": status, "count": 0, "plugin": dist,
                                 "reason": reason, "notes": []})

    for b in backends:
        counts = {"kernel": 0, "decomposition": 0, "missing": 0}
        missing = []
        for name, op in registry.items():
            how = implementation(op, b)
            counts[how] += 1
            if how == "missing":
                missing.append(name)
        facts["coverage"].append({"type": b.device_type, **counts, "missing_ops": missing})

    if ops:
        facts["ops"] = [{
            "name": name, "kind": op_kind(op), "family": op.family, "schema": str(op.schema),
            "impl": {b.device_type: implementation(op, b) for b in backends}}
            for name, op in sorted(registry.items())]
    return facts


# -- plain text ------------------------------------------------------------------

def _table(headers, rows, indent="  ") -> list[str]:
    """Columns padded to their widest cell; the last column is left ragged."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    out = []
    for r in [list(map(str, headers))] + rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _short_list(names, limit=12) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _required_note(ops) -> str:
    prims = [o["name"] for o in ops if o["kind"] == "prim"]
    return (f"{len(prims)} are prims, required of every backend: {', '.join(prims)}; every other operator "
            f"runs through its decomposition on a backend without a kernel for it")


def render_text(facts: dict, show_traceback: bool = False) -> str:
    lines = ["Ember", *_table(("", ""), facts["versions"])[1:]]
    if facts["env"]:
        lines += ["", "Environment", *_table(("", ""), facts["env"])[1:]]

    plugins = facts["plugins"]
    lines += ["", f"Plugins ({len(plugins)})"]
    if not facts["autoload"]:
        lines.append("  EMBER_PLUGINS_AUTOLOAD=0: entry points were not read; only core's own plugins "
                     "and those registered by hand are loaded")
    rows = [(p["name"], p["distribution"], p["version"], p["status"], ", ".join(p["device_types"]) or "-",
             ", ".join(p["hooks"]) or "-") for p in plugins]
    table = _table(("NAME", "DISTRIBUTION", "VERSION", "STATUS", "DEVICES", "HOOKS"), rows)
    lines.append(table[0])
    failed = False
    for p, row in zip(plugins, table[1:]):
        lines.append(row)
        if p["error"]:
            lines.append(f"      {'error' if p['status'] == 'failed' else 'why'}: {p['error']}")
        if p["status"] == "failed":
            failed = True
            if show_traceback and p["traceback"]:
                lines += ["      " + t for t in p["traceback"].rstrip().splitlines()]
        for k, v in p["info"].items():
            lines.append(f"      {k}: {v}")
    if failed and not show_traceback:
        lines.append("  (ember info --traceback shows the tracebacks of failed plugins)")

    lines += ["", "Devices"]
    rows = [(d["type"], d["status"], d["count"], d["plugin"], d["reason"] or "; ".join(d["notes"]) or "")
            for d in facts["devices"]]
    lines += _table(("TYPE", "STATUS", "COUNT", "PLUGIN", "NOTES / REASON"), rows)

    lines += ["", "Operator coverage (K kernel, D decomposition, - missing)"]
    rows = [(c["type"], c["kernel"], c["decomposition"], c["missing"],
             _short_list(c["missing_ops"]) if c["missing_ops"] else "") for c in facts["coverage"]]
    lines += _table(("BACKEND", "KERNEL", "DECOMPOSITION", "MISSING", "MISSING OPERATORS"), rows)

    if facts["ops"] is not None:
        types = [c["type"] for c in facts["coverage"]]
        lines += ["", f"Operators ({len(facts['ops'])})"]
        rows = [(o["name"], o["kind"], o["family"], *(_IMPL_CODE[o["impl"][t]] for t in types), o["schema"])
                for o in facts["ops"]]
        lines += _table(("NAME", "KIND", "FAMILY", *types, "SCHEMA"), rows)
        lines += ["", "  " + _required_note(facts["ops"])]
    return "\n".join(lines) + "\n"


def info_text(ops: bool = False, traceback: bool = False) -> str:
    """The plain text of ``ember info``."""
    return render_text(collect(ops=ops), show_traceback=traceback)


# -- rich --------------------------------------------------------------------------

def _render_rich(facts: dict, show_traceback: bool) -> None:
    from rich.console import Console
    from rich.markup import escape as e
    from rich.table import Table

    con = Console()
    t = Table(title="Ember", show_header=False)
    for k, v in facts["versions"] + facts["env"]:
        t.add_row(e(k), e(v))
    con.print(t)

    style = {"loaded": "green", "failed": "bold red", "disabled": "yellow"}
    t = Table(title=f"Plugins ({len(facts['plugins'])})")
    for h in ("name", "distribution", "version", "status", "devices", "hooks and facts"):
        t.add_column(h)
    for p in facts["plugins"]:
        status = f"[{style[p['status']]}]{p['status']}[/]" if p["status"] in style else e(p["status"])
        if p["error"]:
            status += f"\n{e(p['error'])}"
        facts_ = "\n".join(f"{k}: {v}" for k, v in p["info"].items())
        t.add_row(e(p["name"]), e(p["distribution"]), e(p["version"]), status,
                  e(", ".join(p["device_types"])), e(", ".join(p["hooks"]) + ("\n" + facts_ if facts_ else "")))
    con.print(t)
    if show_traceback:
        for p in facts["plugins"]:
            if p["traceback"]:
                con.rule(f"traceback of plugin {p['name']}")
                con.print(p["traceback"], markup=False, highlight=False)

    t = Table(title="Devices")
    for h in ("type", "status", "count", "plugin", "notes / reason"):
        t.add_column(h)
    for d in facts["devices"]:
        st = "[green]available[/]" if d["status"] == "available" else f"[yellow]{e(d['status'])}[/]"
        t.add_row(e(d["type"]), st, str(d["count"]), e(d["plugin"]), e(d["reason"] or "; ".join(d["notes"])))
    con.print(t)

    t = Table(title="Operator coverage")
    for h in ("backend", "kernel", "decomposition", "missing", "missing operators"):
        t.add_column(h)
    for c in facts["coverage"]:
        t.add_row(e(c["type"]), str(c["kernel"]), str(c["decomposition"]), str(c["missing"]),
                  e(_short_list(c["missing_ops"])))
    con.print(t)

    if facts["ops"] is not None:
        types = [c["type"] for c in facts["coverage"]]
        t = Table(title=f"Operators ({len(facts['ops'])}): K kernel, D decomposition, - missing",
                  caption=_required_note(facts["ops"]))
        for h in ("name", "kind", "family", *types, "schema"):
            t.add_column(h)
        for o in facts["ops"]:
            t.add_row(e(o["name"]), o["kind"], e(o["family"]), *(_IMPL_CODE[o["impl"][x]] for x in types),
                      e(o["schema"]))
        con.print(t)


def _use_rich(plain: bool) -> bool:
    if plain or not sys.stdout.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


# -- commands ----------------------------------------------------------------------

def cmd_info(args) -> int:
    facts = collect(ops=args.ops)
    if _use_rich(args.plain):
        _render_rich(facts, args.traceback)
    else:
        sys.stdout.write(render_text(facts, show_traceback=args.traceback))
    return 0


def cmd_new_backend(args) -> int:
    from .scaffold import scaffold
    try:
        root = scaffold(args.name, args.dir)
    except (ValueError, FileExistsError) as e:
        print(f"ember new-backend: {e}", file=sys.stderr)
        return 2
    print(f"created {root}\n  pip install -e {root}\n  ember info\n  ember-conformance --backend {args.name} --tier 0")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: tensors on pluggable devices.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="versions, plugins, devices and operator coverage",
                       description="Show versions, every plugin and its status, every device type and "
                                   "whether it is available, and operator coverage per backend.")
    p.add_argument("--ops", action="store_true",
                   help="list every operator with its schema, kind and implementation per backend")
    p.add_argument("--traceback", action="store_true", help="show the tracebacks of failed plugins")
    p.add_argument("--plain", action="store_true", help="plain text even where rich is installed")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("new-backend", help="scaffold a backend plugin package",
                       description="Write ember-NAME/: a pip-installable plugin for device type NAME (entry "
                                   "point, hook implementation, runtime and kernel stubs that raise "
                                   "NotImplementedError, an empty conformance skips file).")
    p.add_argument("name", help="the device type, a lowercase identifier such as 'mydev'")
    p.add_argument("--dir", default=".", help="where to create ember-NAME/ (default: here)")
    p.set_defaults(func=cmd_new_backend)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except BrokenPipeError:  # `ember info | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
