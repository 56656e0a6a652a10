"""Issue 17 items 11 and 12: `undo`/`history` from any folder through the per-user run index; undo with
nothing left is not an error; --help shows real types and help for every option."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from imgengine.cli.app import app
from imgengine.processors import run_index

from .conftest import write_jpeg

CODE = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"


def imgengine(*args, cwd: Path):
    return subprocess.run([sys.executable, "-c", CODE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "250"})


def test_undo_and_history_work_from_any_folder(tmp_path: Path, _private_home: Path):
    inbox, library, elsewhere = tmp_path / "Inbox", tmp_path / "Library", tmp_path / "elsewhere"
    for i in range(3):
        write_jpeg(inbox / f"IMG_{i}.jpg", seed=i)
    elsewhere.mkdir()
    before = sorted(p.name for p in inbox.iterdir())
    p = imgengine("organize", inbox, library, "--move", "--apply", cwd=inbox)
    assert p.returncode == 0, p.stderr
    assert not list(inbox.glob("*.jpg"))
    index = _private_home / ".local" / "state" / "imgengine" / "runs.sqlite"
    assert index.is_file()
    [run] = run_index.runs(index)
    assert run.command == "organize" and run.status == "done" and run.counts["done"] == 3
    assert run.state_dir == library / ".imgengine" and "organize" in run.argv

    p = imgengine("history", "--json", cwd=elsewhere)
    assert p.returncode == 0, p.stderr
    [listed] = json.loads(p.stdout)
    assert listed["run_id"] == run.run_id and listed["steps_done"] == 3
    p = imgengine("undo", "--here", cwd=elsewhere)  # --here: only this folder's runs (none)
    assert p.returncode == 2 and "no imgengine runs recorded" in p.stderr
    p = imgengine("undo", cwd=inbox)  # the README's sequence: undo right where organize ran
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in inbox.iterdir()) == before
    p = imgengine("undo", cwd=elsewhere)  # nothing left: a message, exit 0
    assert p.returncode == 0 and "nothing to undo" in p.stdout


def test_runs_of_two_folders_latest_first(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_jpeg(a / "x.jpg", seed=1)
    write_jpeg(b / "y.jpg", seed=2)
    assert imgengine("rename", a, "-t", "first", "--apply", cwd=tmp_path).returncode == 0
    assert imgengine("rename", b, "-t", "second", "--apply", cwd=tmp_path).returncode == 0
    p = imgengine("undo", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["state_dir"] == str(b / ".imgengine")
    assert (b / "y.jpg").exists() and (a / "first.jpg").exists()
    p = imgengine("undo", "--here", "--dir", a, cwd=tmp_path)
    assert p.returncode == 0 and (a / "x.jpg").exists()


def test_index_that_cannot_be_written_does_not_stop_a_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("IMGENGINE_RUN_INDEX", str(tmp_path / "file" / "runs.sqlite"))
    (tmp_path / "file").write_text("a file where the folder should be")
    write_jpeg(tmp_path / "p" / "x.jpg")
    p = imgengine("rename", tmp_path / "p", "-t", "new", "--apply", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "p" / "new.jpg").exists()


# -- item 11 ---------------------------------------------------------------------------------------------
def test_negative_workers_is_a_usage_error(tmp_path: Path):
    write_jpeg(tmp_path / "p" / "x.jpg")
    for command in ("analyze", "duplicates"):
        p = imgengine(command, tmp_path / "p", "--workers", "-3", cwd=tmp_path)
        assert p.returncode == 2 and "Traceback" not in p.stderr


def _commands(group, prefix=()):
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # built-in commands are imported when asked for (lazy)
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_option_has_help_and_no_bool_placeholder():
    root = typer.main.get_command(app)
    seen = 0
    for path, cmd in _commands(root):
        for param in cmd.params:
            if param.param_type_name == "option":
                seen += 1
                assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
        text = cmd.get_help(cmd.context_class(cmd, info_name=" ".join(path)))
        assert "<bool>" not in text.lower() and "BOOLEAN" not in text, f"{' '.join(path)} --help: {text}"
    assert seen > 50


@pytest.mark.parametrize("command", ["analyze", "duplicates", "rename", "organize", "undo", "history", "stats",
                                     "show", "search", "export"])
def test_help_runs(command: str, tmp_path: Path):
    p = imgengine(command, "--help", cwd=tmp_path)
    assert p.returncode == 0 and "Usage" in p.stdout
