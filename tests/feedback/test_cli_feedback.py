"""``imgengine feedback`` through the real CLI (Typer's runner: not a terminal, so never interactive)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from imgengine.cli.app import app

from .helpers import photo, run_plugin, write_plugin

BUGS = '''
@dataclass(frozen=True)
class SceneInfo(Result):
    ratio: float
    taken: str | None


class SceneInfoAnalyzer(Analyzer):
    name = "scene_info"

    def analyze(self, item):
        exif = {}
        if item.photo.size < 0:
            raise RuntimeError("impossible")
        taken = exif.get("DateTimeOriginal").split(" ")[0]
        return SceneInfo(ratio=1.0, taken=taken)


class Exploding(Analyzer):
    name = "exploding"

    def analyze(self, item):
        raise RuntimeError("model weights are corrupt")
'''


def _invoke(*args: str):
    return CliRunner().invoke(app, ["feedback", *args], catch_exceptions=False)


def test_feedback_cli_report_apply_history_rollback(tmp_path):
    plugins, logs = tmp_path / "plugins", tmp_path / "logs"
    plugin = write_plugin(plugins, "scene_info", BUGS)
    original = plugin.read_bytes()
    photos = [photo(tmp_path / f"{i}.jpg", seed=i) for i in range(2)]
    run_plugin(plugin, "scene_info", photos, logs)
    run_plugin(plugin, "exploding", photos[:1], logs)
    common = ["--logs", str(logs), "--plugin-dir", str(plugins), "--state-dir", str(tmp_path / "state")]

    r = _invoke(*common, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    by_type = {g["exception_type"]: g for g in report["groups"]}
    assert by_type["AttributeError"]["count"] == 2 and by_type["AttributeError"]["files_affected"] == 2
    assert by_type["AttributeError"]["fix"]["pattern"] == "none-guard"
    manual = by_type["RuntimeError"]
    assert manual["status"] == "manual" and "needs manual review" in manual["reason"]
    assert "> " in manual["context"] and "model weights are corrupt" in manual["context"]
    assert sorted(p.suffix for p in logs.glob("improvement_report_*")) == [".html", ".json", ".txt"]

    r = _invoke(*common, "--apply")           # not a terminal, no --auto-approve: diffs only
    assert r.exit_code == 0 and "diff written" in r.output
    assert plugin.read_bytes() == original

    r = _invoke(*common, "--apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "kept" in r.output
    assert 'if exif.get("DateTimeOriginal") is not None else None)' in plugin.read_text(encoding="utf-8")

    r = CliRunner().invoke(app, ["feedback", "history", "--logs", str(logs), "--state-dir",
                                 str(tmp_path / "state"), "--json"])
    [fix] = json.loads(r.output)
    assert fix["outcome"] == "kept" and fix["pattern"] == "none-guard"

    r = CliRunner().invoke(app, ["feedback", "rollback", fix["id"], "--logs", str(logs), "--state-dir",
                                 str(tmp_path / "state")])
    assert r.exit_code == 0, r.output
    assert plugin.read_bytes() == original

    r = CliRunner().invoke(app, ["feedback", "rollback", "nope", "--logs", str(logs)])
    assert r.exit_code == 1 and "no fix 'nope'" in r.output and "Traceback" not in r.output


def test_auto_approve_needs_apply(tmp_path):
    r = _invoke("--logs", str(tmp_path), "--auto-approve")
    assert r.exit_code == 2 and "--auto-approve needs --apply" in r.output


def test_empty_logs_report_nothing(tmp_path):
    r = _invoke("--logs", str(tmp_path / "logs"), "--json")
    assert r.exit_code == 0
    assert json.loads(r.output)["totals"]["groups"] == 0


def test_killed_mid_validation_leaves_the_old_file(tmp_path):
    """kill -9 while a fix is being validated: the next `feedback` puts the backup back and says so."""
    import os
    import signal
    import subprocess
    import sys
    import time

    plugins, logs = tmp_path / "plugins", tmp_path / "logs"
    plugin = write_plugin(plugins, "scene_info", BUGS)
    original = plugin.read_bytes()
    run_plugin(plugin, "scene_info", [photo(tmp_path / "a.jpg")], logs)
    common = ["--logs", str(logs), "--plugin-dir", str(plugins), "--state-dir", str(tmp_path / "state")]
    sleeper = f"{sys.executable} -c 'import time; time.sleep(120)'"
    proc = subprocess.Popen([sys.executable, "-c", "from imgengine.cli.app import main; main()", "feedback",
                             *common, "--apply", "--auto-approve", "--check-command", sleeper],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if plugin.read_bytes() != original:      # replaced: validation is running now
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the fix was never written")
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert plugin.read_bytes() != original
    r = _invoke(*common, "--json")
    assert r.exit_code == 0, r.output
    assert plugin.read_bytes() == original
    [fix] = json.loads(r.output)["fixes"]
    assert fix["outcome"] == "interrupted" and "backup restored" in fix["reason"]


def test_interactive_apply_asks_for_each_fix(tmp_path, monkeypatch):
    import imgengine.cli.feedback as cli

    monkeypatch.setattr(cli, "_interactive", lambda: True)
    plugins, logs = tmp_path / "plugins", tmp_path / "logs"
    plugin = write_plugin(plugins, "scene_info", BUGS)
    original = plugin.read_bytes()
    run_plugin(plugin, "scene_info", [photo(tmp_path / "a.jpg")], logs)
    common = ["feedback", "--logs", str(logs), "--plugin-dir", str(plugins), "--state-dir", str(tmp_path / "s")]
    r = CliRunner().invoke(app, [*common, "--apply"], input="n\n")
    assert r.exit_code == 0, r.output
    assert "apply this fix" in r.output and "+        taken = (exif.get" in r.output
    assert plugin.read_bytes() == original
    r = CliRunner().invoke(app, [*common, "--apply"], input="y\n")
    assert r.exit_code == 0 and "kept" in r.output
    assert plugin.read_bytes() != original
