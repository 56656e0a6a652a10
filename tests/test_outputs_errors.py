"""Issue 17 item 8: output paths are checked before the run; late failures are one line, no temp file;
no exception reaches the terminal as a traceback."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.outputs import write_output
from imgengine.errors import OutputError

from .conftest import run_cli, unprivileged_prefix, write_jpeg


@pytest.mark.parametrize("command", ["analyze", "duplicates"])
def test_unwritable_output_paths_fail_before_the_run(tmp_path: Path, command: str):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    cat = tmp_path / "c.db"
    folder = tmp_path / "out.json"
    folder.mkdir()
    for target in (tmp_path / "nonexistent" / "dir" / "out.json", folder):
        p = run_cli([command, root, "-o", target, "--catalog", cat])
        assert p.returncode == 2, p.stdout + p.stderr
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
        assert not cat.exists(), "the run must not start"
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.part"))


def test_html_report_into_a_missing_folder(tmp_path: Path):
    write_jpeg(tmp_path / "p" / "a.jpg")
    p = run_cli(["duplicates", tmp_path / "p", "--html", tmp_path / "no" / "r.html", "--catalog", tmp_path / "c.db"])
    assert p.returncode == 2 and "does not exist" in p.stderr


def test_read_only_output_folder(tmp_path: Path):
    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("cannot drop root's override of file modes here")
    write_jpeg(tmp_path / "p" / "a.jpg")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    tmp_path.chmod(0o777)
    try:
        p = run_cli(["analyze", tmp_path / "p", "-o", ro / "out.json", "--catalog", tmp_path / "c.db"], prefix)
    finally:
        ro.chmod(0o755)
    assert p.returncode == 2 and "cannot write" in p.stderr, p.stderr


def test_write_failure_at_the_end_is_one_error_and_no_temp_file(tmp_path: Path):
    target = tmp_path / "out.json"
    target.mkdir()
    (target / "keep").write_text("x")  # a non-empty folder where the file should go: the final rename fails
    rec = {"id": 1, "path": tmp_path / "a.jpg", "display_path": "a.jpg", "size": 1, "status": "ok", "results": {}}
    for name in ("out.json", "out.csv"):
        t = tmp_path / name
        t.mkdir(exist_ok=True)
        (t / "keep").write_text("x")
        with pytest.raises(OutputError, match="the catalog is complete: export it again with `imgengine export"):
            write_output([rec], t)
    assert not list(tmp_path.glob("*.tmp"))


def test_export_writes_what_the_catalog_knows(tmp_path: Path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    assert run_cli(["analyze", root, "--no-vision", "-q"]).returncode == 0
    (root / "b.jpg").write_bytes((root / "a.jpg").read_bytes())
    assert run_cli(["analyze", root, "--no-vision", "-q"]).returncode == 0
    (root / "b.jpg").unlink()
    assert run_cli(["analyze", root, "--no-vision", "-q"]).returncode == 0  # b.jpg is gone: marked missing
    p = run_cli(["export", "catalog", root, "-o", tmp_path / "again.json"])
    assert p.returncode == 0, p.stderr
    assert len(json.loads((tmp_path / "again.json").read_text())["photos"]) == 1


def test_unexpected_exception_is_one_line_and_logged(tmp_path: Path, monkeypatch):
    import imgengine.cli.analyze as analyze_cli

    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    assert run_cli(["analyze", root, "--no-vision", "-q"]).returncode == 0

    def broken(*a, **k):
        raise ValueError("something nobody expected")

    monkeypatch.setattr(analyze_cli, "catalog_stats", broken)
    monkeypatch.setenv("IMGENGINE_LOG_DIR", str(tmp_path / "logs"))
    r = CliRunner().invoke(app, ["stats", str(root)])
    assert r.exit_code == 1
    assert "unexpected ValueError: something nobody expected" in r.output and "Traceback" not in r.output
    log = (tmp_path / "logs" / "crashes.log").read_text()
    assert "Traceback" in log and "something nobody expected" in log
