"""The improvement report: text for people, JSON for programs, HTML with a chart for the long view.

Written to ``<log_dir>/improvement_report_<ts>.txt|.json|.html`` by every ``imgengine feedback``.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from .fixlog import FixRecord
from .learning import PatternStats
from .loop import Suggestion
from .runtime import ConfigChange


def build(suggestions: list[Suggestion], stats: dict[str, PatternStats], fixes: list[FixRecord],
          config_change: ConfigChange | None, applied: list[FixRecord], log_dir: Path,
          runs: list[str]) -> dict[str, Any]:
    by_status = Counter(s.status for s in suggestions)
    return {
        "schema_version": 1,
        "generated": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "log_dir": str(log_dir),
        "totals": {"groups": len(suggestions), "errors": sum(s.group.count for s in suggestions),
                   **{k: v for k, v in sorted(by_status.items())}},
        "runs": runs,
        "groups": [s.to_dict() for s in suggestions],
        "patterns": [st.to_dict() for st in stats.values()],
        "runtime": {"config_change": config_change.to_dict() if config_change else None},
        "applied": [r.to_dict() for r in applied],
        "fix_history": sorted(({"time": t, "pattern": st.name, "verdict": v} for st in stats.values()
                               for t, v in st.history), key=lambda h: h["time"]),
        "fixes": [r.to_dict() for r in fixes],
    }


def to_text(report: dict[str, Any]) -> str:
    t = report["totals"]
    out = [f"imgengine improvement report — {report['generated']}",
           f"{t['errors']} error(s) in {t['groups']} group(s) across {len(report['runs'])} run(s)", ""]
    for i, g in enumerate(report["groups"], 1):
        where = f"{g['source_file']}:{g['source_line']}" if g["source_file"] else "(no plugin line)"
        plugin = f" (plugin {g['plugin']})" if g["plugin"] else ""
        out.append(f"[{i}] {g['exception_type']} in {g['stage']}{plugin}"
                   f" — {g['count']} error(s), {g['files_affected']} photo(s), trend {g['trend']}")
        out.append(f"    {g['message']}")
        out.append(f"    at {where}; first {g['first_seen']}, last {g['last_seen']}; fingerprint {g['fingerprint']}")
        if g["fix"]:
            f = g["fix"]
            out.append(f"    fix: {f['pattern']} — {f['summary']} (confidence {f['confidence']:.2f})")
            out.extend(f"    note: {n}" for n in f["notes"])
        out.append(f"    status: {g['status']}" + (f" — {g['reason']}" if g["reason"] else ""))
        if g["status"] == "manual":
            out.extend("      " + ln for ln in g["context"].splitlines())
            out.extend("      | " + ln for ln in (g["traceback"] or "").strip().splitlines()[-6:])
        out.append("")
    change = report["runtime"]["config_change"]
    out.append("Runtime recovery:")
    out.append(f"  batch_size {change['batch_size']} for {change['device']} after {change['oom_retries']} "
               f"out-of-memory retries in {len(change['runs'])} runs → {change['config']}" if change
               else "  no repeated out-of-memory")
    out.append("")
    out.append("Patterns (learned confidence; successes / failures):")
    for p in report["patterns"]:
        rate = "—" if p["success_rate"] is None else f"{p['success_rate']:.0%}"
        out.append(f"  {p['pattern']:24} {p['confidence']:.2f} (prior {p['prior_confidence']:.2f})  "
                   f"{p['successes']} / {p['failures']}  success rate {rate}")
    if report["applied"]:
        out.append("")
        out.append("Applied now:")
        for r in report["applied"]:
            out.append(f"  {r['id']}: {r['outcome']} — {r['file']}" + (f" ({r['reason']})" if r["reason"] else ""))
    return "\n".join(out) + "\n"


def chart_svg(report: dict[str, Any]) -> str:
    """Errors per run for the largest groups, each pattern's fixes and confidence, fix success over time."""
    buf = io.StringIO()
    figure(report).savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.find("<svg"):]


def figure(report: dict[str, Any]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.8))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    runs = report["runs"][-20:]
    for g in report["groups"][:5]:
        ax1.plot(range(len(runs)), [g["runs"].get(r, 0) for r in runs], marker="o",
                 label=f"{g['exception_type']} {g['fingerprint'][:6]}")
    ax1.set_title("errors per run (largest groups)")
    ax1.set_xticks(range(len(runs)), [r[-6:] for r in runs], rotation=45, fontsize=7)
    if report["groups"]:
        ax1.legend(fontsize=7)
    names = [p["pattern"] for p in report["patterns"]]
    succ = [p["successes"] for p in report["patterns"]]
    fail = [p["failures"] for p in report["patterns"]]
    ax2.barh(names, succ, color="#3a7")
    ax2.barh(names, fail, left=succ, color="#c44")
    for i, p in enumerate(report["patterns"]):
        ax2.text(succ[i] + fail[i] + 0.05, i, f"{p['confidence']:.2f}", va="center", fontsize=7)
    ax2.set_title("fixes kept (green) / failed (red), confidence")
    ax2.tick_params(axis="y", labelsize=7)
    history = report["fix_history"]
    if history:
        kept = 0
        rate = []
        for i, h in enumerate(history, 1):
            kept += h["verdict"] == "success"
            rate.append(kept / i)
        ax3.plot(range(1, len(history) + 1), rate, marker=".", color="#37a")
        ax3.set_ylim(0, 1.05)
    ax3.set_title("fix success rate over time (all patterns)")
    ax3.set_xlabel("fixes, oldest first", fontsize=7)
    fig.tight_layout()
    return fig


def to_html(report: dict[str, Any], text: str) -> str:
    try:
        chart = chart_svg(report)
    except ImportError:
        chart = "<p>(install matplotlib for the chart)</p>"
    rows = "".join(
        f"<tr><td>{html.escape(g['exception_type'])}</td><td>{g['count']}</td><td>{g['files_affected']}</td>"
        f"<td>{html.escape(g['trend'])}</td><td>{html.escape(g['fix']['pattern'] if g['fix'] else '')}</td>"
        f"<td>{'' if not g['fix'] else format(g['fix']['confidence'], '.2f')}</td>"
        f"<td>{html.escape(g['status'])}</td></tr>" for g in report["groups"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>imgengine improvement report</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}"
            f"pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>"
            f"<h1>imgengine improvement report</h1><p>{html.escape(report['generated'])}</p>{chart}"
            f"<table><tr><th>error</th><th>count</th><th>photos</th><th>trend</th><th>pattern</th>"
            f"<th>confidence</th><th>status</th></tr>{rows}</table>"
            f"<pre>{html.escape(text)}</pre></body></html>")


def write(report: dict[str, Any], log_dir: Path) -> dict[str, Path]:
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    base = log_dir / f"improvement_report_{stamp}"
    text = to_text(report)
    paths = {"txt": base.with_suffix(".txt"), "json": base.with_suffix(".json"), "html": base.with_suffix(".html")}
    paths["txt"].write_text(text, encoding="utf-8")
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    paths["html"].write_text(to_html(report, text), encoding="utf-8")
    return paths
