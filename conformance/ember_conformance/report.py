"""The certificate of a run: JSON (every case) and an HTML page (operator by dtype matrix)."""

from __future__ import annotations

import datetime as _dt
import html
import json
import platform
from importlib import metadata
from pathlib import Path

from . import __version__
from .cases import TIER_NAMES


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(backend) -> dict:
    """Python, OS, the backend's device and driver facts (from its ember_info hook)."""
    from ember.plugins import manager
    plugin = manager.pm.get_plugin(backend.plugin) if backend.plugin else None
    info = {}
    hook = getattr(plugin, "ember_info", None)
    if hook is not None:
        try:
            info = {str(k): str(v) for k, v in (hook() or {}).items()}
        except Exception as e:  # noqa: BLE001  (facts are for display only)
            info = {"ember_info": f"{type(e).__name__}: {e}"}
    rt = backend.runtime
    name = None
    for attr in ("device_name", "get_device_name"):
        fn = getattr(rt, attr, None)
        if callable(fn):
            try:
                name = str(fn(0))
            except Exception:  # noqa: BLE001
                pass
    return {"python": f"{platform.python_implementation()} {platform.python_version()}",
            "os": platform.platform(), "machine": platform.machine(),
            "device_name": name or info.get("device") or info.get("device name") or platform.processor() or backend.device_type,
            "driver": info.get("driver") or info.get("driver version"),
            "ember_info": info, "numpy": _version("numpy")}


def certificate(run, backend) -> dict:
    import ember
    c = {"suite": {"name": "ember-conformance", "version": __version__},
         "core": {"name": "ember-core", "version": ember.__version__},
         "plugin": {"name": backend.distribution, "version": backend.version, "device_type": backend.device_type},
         "environment": environment(backend),
         "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
         "mode": {"strict": run.strict, "certification": run.certify, "tiers": list(run.tiers)},
         "partial": run.partial,
         "only": list(run.only),
         "sample": run.sample,
         "stopped_at": run.stopped_at,
         "skips_file": run.skips_file,
         "seconds": round(run.seconds, 2),
         "tier_reached": run.tier_reached,
         "tiers": {str(t): {"name": TIER_NAMES[t], **run.counts(t), "ran": ran, "cases": total}
                   for t, (ran, total) in run.coverage().items()},
         "totals": run.counts(),
         "cases": [r.as_json() for r in run.results]}
    return c


def matrix(results) -> tuple[list, list, dict]:
    """(operators, dtypes, {(op, dtype): counts}) over the operator cases."""
    cells: dict = {}
    for r in results:
        if not r.op or not r.dtype:
            continue
        c = cells.setdefault((r.op, r.dtype), {"pass": 0, "fail": 0, "skip": 0, "n/a": 0, "first": None})
        c[r.status] += 1
        if r.status == "fail" and c["first"] is None:
            c["first"] = f"{r.id}: {r.reason}"
    ops = sorted({k[0] for k in cells})
    from ember import dtypes as D
    dts = [d.name for d in D.all_dtypes if any(k[1] == d.name for k in cells)]
    return ops, dts, cells


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:center}th{background:#f4f4f4;position:sticky;top:0}
td.op{text-align:left;font-family:monospace}.pass{background:#c8f0c8}.fail{background:#f6b4b4}
.skip{background:#f5e6a8}.na{background:#e4e4e4;color:#888}.mixed{background:#f9d48b}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap}"""


def html_page(cert: dict, results) -> str:
    ops, dts, cells = matrix(results)
    e = html.escape
    rows = []
    for op in ops:
        tds = []
        for dt in dts:
            c = cells.get((op, dt))
            if c is None:
                tds.append("<td></td>")
                continue
            if c["fail"]:
                cls, text = "fail", f"{c['fail']} fail"
            elif c["pass"] and c["skip"]:
                cls, text = "mixed", f"{c['pass']}/{c['pass'] + c['skip']}"
            elif c["pass"]:
                cls, text = "pass", f"{c['pass']}"
            elif c["skip"]:
                cls, text = "skip", "skip"
            else:
                cls, text = "na", "n/a"
            title = e(c["first"] or f"{c['pass']} passed, {c['skip']} skipped, {c['n/a']} n/a")
            tds.append(f'<td class="{cls}" title="{title}">{text}</td>')
        rows.append(f'<tr><td class="op">{e(op)}</td>{"".join(tds)}</tr>')
    tiers = "".join(f"<tr><td>{t}</td><td>{e(v['name'])}</td><td>{v['pass']}</td><td>{v['fail']}</td>"
                    f"<td>{v['skip']}</td><td>{v['n/a']}</td></tr>" for t, v in cert["tiers"].items())
    fails = [r for r in results if r.status == "fail"]
    fail_list = "\n".join(f"{r.id}: {r.reason}" for r in fails[:500])
    env = cert["environment"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Ember conformance: {e(cert['plugin']['device_type'])}</title>
<style>{_CSS}</style></head><body>
<h1>Ember conformance {_headline(cert)}</h1>
<p>{e(cert['plugin']['name'])} {e(str(cert['plugin']['version']))} on ember-core {e(cert['core']['version'])},
ember-conformance {e(cert['suite']['version'])}; {e(env['python'])}, {e(env['os'])}, device {e(str(env['device_name']))},
driver {e(str(env['driver']))}. {cert['created']}, {cert['seconds']} s, strict={cert['mode']['strict']}.</p>
<table><tr><th>tier</th><th>what</th><th>pass</th><th>fail</th><th>skip</th><th>n/a</th></tr>{tiers}</table>
<h2>Operators by dtype</h2><p>Cells count passing cases; hover for the first failure.</p>
<table><tr><th>operator</th>{''.join(f'<th>{e(d)}</th>' for d in dts)}</tr>{''.join(rows)}</table>
<h2>Failures ({len(fails)})</h2><pre>{e(fail_list) or 'none'}</pre></body></html>"""


def _headline(cert: dict) -> str:
    """'certificate: cpu, tier 3', or for a partial run, which claims no tier, what selected it."""
    dev = html.escape(cert["plugin"]["device_type"])
    if not cert.get("partial"):
        return f"certificate: {dev}, tier {cert['tier_reached']}"
    only = ", ".join(cert.get("only") or ())
    sample = f" (a {cert['sample']:.0%} sample)" if cert.get("sample") else ""
    return f"partial run: {dev}{html.escape(f' (-k {only})' if only else '')}{sample}, no tier claimed"


def write(run, backend, directory) -> tuple[Path, Path]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert = certificate(run, backend)
    jp = d / f"{backend.device_type}.json"
    hp = d / f"{backend.device_type}.html"
    jp.write_text(json.dumps(cert, indent=1) + "\n")
    hp.write_text(html_page(cert, run.results))
    return jp, hp


def divergences(run_a, run_b) -> list[dict]:
    """Where two backends really differ on the same cases (see divergence.py)."""
    from .divergence import compare_runs
    return compare_runs(run_a, run_b).divergences


def write_compare(comparison, directory) -> Path:
    """DIR/compare-A-B.json: the divergences, the cases compared, and what was not compared and why."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    a, b = comparison.backends
    p = d / f"compare-{a}-{b}.json"
    p.write_text(json.dumps(comparison.as_json(), indent=1) + "\n")
    return p
