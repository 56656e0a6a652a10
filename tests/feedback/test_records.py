"""Reading errors.jsonl: torn lines, --since, the traceback fallback for records without a plugin line."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from imgengine.errors import UsageError
from imgengine.feedback.grouping import group_errors
from imgengine.feedback.records import innermost_user_frame, parse_since, read_error_records

TB = '''Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/imgengine/engine/perfile.py", line 140, in analyze_task
    result = analyzer.analyze(item)
  File "/home/me/plugins/caption.py", line 12, in analyze
    text = fh.read()
  File "<frozen codecs>", line 322, in decode
UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 in position 5: invalid continuation byte
'''


def _rec(**kw):
    base = {"run_id": "r1", "time": "2026-12-01T10:00:00+00:00", "file": "/p/a.jpg", "stage": "caption",
            "exception_type": "UnicodeDecodeError", "message": "/p/a.jpg: UnicodeDecodeError: 'utf-8' codec…",
            "traceback": TB, "source": "imgengine/engine/perfile.py:140", "fingerprint": "engine-line"}
    return {**base, **kw}


def test_innermost_user_frame_skips_libraries_and_frozen_modules():
    f = innermost_user_frame(TB)
    assert (f.file, f.line, f.function) == ("/home/me/plugins/caption.py", 12, "analyze")


def test_records_without_plugin_fields_group_by_the_plugins_line(tmp_path):
    lines = [_rec(), _rec(file="/p/b.jpg", run_id="r2", time="2026-12-02T10:00:00+00:00"),
             _rec(traceback=TB.replace("line 12", "line 30"))]
    (tmp_path / "errors.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + '\n{"torn": ', encoding="utf-8")
    groups = group_errors(read_error_records(tmp_path))
    assert [g.count for g in groups] == [2, 1]
    g = groups[0]
    assert g.source_file == "/home/me/plugins/caption.py" and g.source_line == 12
    assert g.fingerprint != "engine-line" and g.runs == {"r1": 1, "r2": 1} and g.trend == "steady"
    assert g.message.startswith("'utf-8' codec can't decode byte 0xe9")   # the exception's own message


def test_plugin_fields_win(tmp_path):
    rec = _rec(plugin="caption", plugin_version="2", source_file="/home/me/plugins/caption.py", source_line=11,
               fingerprint="plugin-fp")
    (tmp_path / "errors.jsonl").write_text(json.dumps(rec) + "\n", encoding="utf-8")
    [g] = group_errors(read_error_records(tmp_path))
    assert (g.fingerprint, g.source_line, g.plugin, g.plugin_version) == ("plugin-fp", 11, "caption", "2")


def test_since(tmp_path):
    now = dt.datetime(2026, 12, 8, 10, tzinfo=dt.UTC)
    assert parse_since("7d", now) == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    assert parse_since("12h", now).hour == 22
    with pytest.raises(UsageError):
        parse_since("last tuesday")
    (tmp_path / "errors.jsonl").write_text(
        json.dumps(_rec()) + "\n" + json.dumps(_rec(time="2026-12-07T10:00:00+00:00")) + "\n", encoding="utf-8")
    assert len(list(read_error_records(tmp_path, parse_since("3d", now)))) == 1


def test_a_plugin_error_record_carries_its_source_hash(tmp_path):
    import hashlib

    from imgengine.logs import error_record

    plugin = tmp_path / "plugins" / "p.py"
    plugin.parent.mkdir()
    plugin.write_text("def f(x):\n    return 1 / x\n", encoding="utf-8")
    namespace: dict = {}
    exec(compile(plugin.read_text(encoding="utf-8"), str(plugin), "exec"), namespace)
    try:
        namespace["f"](0)
    except ZeroDivisionError as exc:
        rec = error_record("r", "/p/a.jpg", "p", exc, plugin="p", plugin_root=str(plugin))
    assert (rec.source_file, rec.source_line) == (str(plugin), 2)
    assert rec.source_sha256 == hashlib.sha256(plugin.read_bytes()).hexdigest()
    [g] = group_errors([{**rec.to_dict(), "_offset": 0}])
    assert g.source_sha256 == rec.source_sha256
