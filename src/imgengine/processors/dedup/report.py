"""The duplicate groups as a JSON document and as a self-contained HTML page (thumbnails inlined)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from ...core.outputs import atomic_output
from ...core.photo import Photo
from .model import FindResult

SCHEMA_VERSION = 1
HTML_THUMB = 200
HTML_MAX_GROUPS = 500


def result_document(result: FindResult, root: Path, catalog: Path, plan: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    doc = {"schema_version": SCHEMA_VERSION, "root": str(root), "catalog": str(catalog),
           "summary": result.summary(), "groups": [g.to_dict() for g in result.groups]}
    if plan is not None:
        doc["plan"] = plan
    return doc


_AGAIN = "run `imgengine duplicates <folder> --no-analyze` again with another file name"


def write_json(doc: dict[str, Any], path: Path) -> None:
    path = Path(path)
    with atomic_output(path, ".part", _AGAIN) as tmp:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def _thumb_uri(path: Path) -> str | None:
    from ...core.decode import decode_for_analysis

    try:
        photo = Photo.from_path(path)
        img = decode_for_analysis(photo, None, HTML_THUMB * 2).image
        img.thumbnail((HTML_THUMB, HTML_THUMB))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
    except Exception:  # noqa: BLE001 - a missing thumbnail must not stop the report
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _size(n: int) -> str:
    f = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if f < 1024 or unit == "GB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return f"{f:.1f} TB"  # pragma: no cover


def write_html(result: FindResult, root: Path, path: Path) -> None:
    esc = html.escape
    s = result.summary()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>imgengine duplicates</title><style>",
        ("body{font-family:sans-serif;margin:1.5em;background:#fafafa}"
        ".g{background:#fff;border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.8em}"
        ".ph{display:inline-block;vertical-align:top;width:210px;margin:4px;font-size:12px;word-break:break-all}"
        ".ph img{max-width:200px;max-height:200px;display:block;border:3px solid #ccc}"
        ".keep img{border-color:#2a2}.keep b{color:#2a2}.r{color:#555;font-size:13px}"),
        "</style></head><body>",
        f"<h1>Duplicates in {esc(str(root))}</h1>",
        (f"<p>{s['groups']} groups ({s['exact_groups']} exact, {s['near_groups']} near), {s['duplicates']} "
        f"duplicate files, {_size(s['bytes_freed'])} could be freed. {s['photos']} photos compared.</p>"),
    ]
    for g in result.groups[:HTML_MAX_GROUPS]:
        parts.append(f"<div class='g'><h3>Group {g.id} &middot; {g.kind} &middot; {_size(g.bytes_freed)} "
                     f"to free</h3><div class='r'>keeper: {esc('; '.join(g.reasons))}</div>")
        for m in g.members:
            e = m.entry
            uri = _thumb_uri(e.path)
            img = f"<img src='{uri}'>" if uri else "<div>(no preview)</div>"
            label = "<b>KEEP</b>" if m.keeper else ("identical" if m.exact_of_keeper else
                                                    f"near (residual {m.residual:.3f})" if m.residual is not None
                                                    else "near")
            parts.append(f"<div class='ph{' keep' if m.keeper else ''}'>{img}{label}<br>{esc(e.display)}<br>"
                         f"{e.width}x{e.height} {esc(str(e.format))} {_size(e.size)}"
                         f"{'<br>' + esc(e.date) if e.date else ''}</div>")
        parts.append("</div>")
    if len(result.groups) > HTML_MAX_GROUPS:
        parts.append(f"<p>... and {len(result.groups) - HTML_MAX_GROUPS} more groups (see the JSON output).</p>")
    parts.append("</body></html>")
    path = Path(path)
    with atomic_output(path, ".part", _AGAIN) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
