"""The inventory as an HTML page: one bar chart per dimension (actual vs target, matplotlib PNGs embedded as
data URIs so the page is a single file) and the gap table."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from .inventory import Inventory

TITLES = {"formats": "File formats", "resolution": "Resolution (long side)", "quality": "Quality (content analyzer)",
          "lighting": "Lighting", "sources": "Source", "scenes": "Scenes (vision stage)"}


def chart_png(inv: Inventory, dimension: str) -> bytes:
    """A horizontal bar chart of the dimension's shares, with the target as a marker where there is one."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display; harmless when a backend is already chosen
    from matplotlib.figure import Figure

    buckets = list(inv.counts[dimension])
    if dimension == "scenes":
        buckets = buckets[:15]
    actual = [inv.percent(dimension, b) for b in buckets]
    target = inv.targets.get(dimension, {})
    fig = Figure(figsize=(6.4, 0.45 * max(len(buckets), 2) + 1.1), dpi=100)
    ax = fig.add_subplot()
    ys = range(len(buckets))
    ax.barh(ys, actual, color="#4a7fb5", label="collection")
    if target:
        xs = [target.get(b) for b in buckets]
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker="|", s=400, color="#d9534f", linewidths=3,
                       label="target", zorder=3)
    ax.set_yticks(list(ys), [f"{b} ({inv.counts[dimension][b]})" for b in buckets])
    ax.invert_yaxis()
    ax.set_xlabel("% of photos")
    ax.set_xlim(0, max([100.0 if not target else max(target.values()) * 1.15, *actual, 1]) * 1.02)
    ax.set_title(TITLES.get(dimension, dimension))
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_html_report(inv: Inventory, path: Path) -> Path:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>imgengine inventory</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}"
        ".charts{display:flex;flex-wrap:wrap;gap:12px}.charts img{max-width:540px}</style></head><body>",
        f"<h1>Inventory of {esc(inv.source)}</h1>",
        f"<p>{inv.total:,} photos analysed · {esc(inv.created_at)} · a bucket is a gap when it is more than "
        f"{inv.tolerance:g} points under its target.</p>",
    ]
    if inv.gaps:
        parts.append("<h2>Gaps</h2><table><tr><th>dimension</th><th>bucket</th><th>have</th><th>actual</th>"
                     "<th>target</th><th>photos to add</th><th>fill with</th></tr>")
        for g in inv.gaps:
            parts.append(f"<tr><td>{esc(g.dimension)}</td><td>{esc(g.bucket)}</td><td>{g.have:,}</td>"
                         f"<td>{g.actual_percent:.1f}%</td><td>{g.target_percent:g}%</td>"
                         f"<td>{g.photos_needed:,}</td><td>{esc(g.fill_with)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<h2>No gaps</h2><p>Every bucket is within tolerance of its target.</p>")
    parts.append("<h2>Distribution</h2><div class='charts'>")
    for dim, buckets in inv.counts.items():
        if not buckets or not any(buckets.values()):
            continue
        data = base64.b64encode(chart_png(inv, dim)).decode("ascii")
        parts.append(f"<img alt='{esc(TITLES.get(dim, dim))}' src='data:image/png;base64,{data}'>")
    parts.append("</div>")
    if inv.unknown:
        parts.append("<p>Not known for some photos (no EXIF, not yet analysed by the vision stage): "
                     + ", ".join(f"{esc(k)} {v:,}" for k, v in inv.unknown.items()) + "</p>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
