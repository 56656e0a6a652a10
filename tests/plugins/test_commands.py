"""Commands through the hook: built-ins are imported only when used, a plugin's command joins the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .helpers import write_plugin

HELLO = '''
    import typer

    from imgengine.plugins import hookimpl

    hello_app = typer.Typer(help="Greetings from a plugin.")


    @hello_app.command("say")
    def say(name: str = typer.Argument("world")):
        typer.echo(f"hello {name}")


    @hookimpl
    def register_commands(cli):
        cli.add_typer(hello_app, name="hello")
'''


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_import_is_light():
    code = ("import sys, imgengine.cli.app; "
            "print(sorted(m for m in ('numpy', 'cv2', 'PIL', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_plugin_command_joins_the_cli(tmp_path: Path):
    write_plugin(tmp_path / "plugins", "hello", HELLO)
    p = run_cli(["hello", "say", "photos"], tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == "hello photos", p.stderr
    p = run_cli(["--help"], tmp_path)
    assert p.returncode == 0 and "hello" in p.stdout and "analyze" in p.stdout
    p = run_cli(["plugins", "list", "--json"], tmp_path)
    assert '"register_commands"' in p.stdout and '"hello"' in p.stdout
    # a built-in command does not even import the folder plugins
    p = run_cli(["--version"], tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("imgengine ")


BY_MONTH_NAME = '''
    from imgengine.plugins import hookimpl
    from imgengine.plugins.builtin.layouts import Layout


    @hookimpl
    def register_layouts():
        return [Layout("month-name", "year, then the month's name", "{date:%Y}/{date:%B}")]
'''


def test_plugin_storage_layout_in_organize(tmp_path: Path):
    import datetime as dt

    from ..conftest import write_jpeg

    src = tmp_path / "in"
    write_jpeg(src / "a.jpg", size=(64, 48), when=dt.datetime(2021, 3, 4, 5, 6, 7))
    write_plugin(tmp_path / "plugins", "layouts_extra", BY_MONTH_NAME)
    p = run_cli(["organize", str(src), str(tmp_path / "lib"), "--by", "month-name", "--apply"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "lib" / "2021" / "March" / "a.jpg").is_file()
    p = run_cli(["organize", str(src), str(tmp_path / "lib2"), "--by", "nope"], tmp_path)
    assert p.returncode == 2 and "month-name" in p.stderr
