"""`imgengine --help` lists the commands from a cache while nothing they came from changed, and exactly
(refreshing the cache) as soon as something did: a plugin added, edited or removed, a broken cache file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..plugins.helpers import write_plugin

RUN = ("import sys; sys.argv[0] = 'imgengine'\n"
       "from imgengine.cli.app import main\n"
       "try:\n    main()\nexcept SystemExit:\n    pass\n"
       "heavy = sorted(m for m in ('imgengine.cli.analyze', 'imgengine.plugins.manager', 'PIL', 'numpy', 'rich') "
       "if m in sys.modules and (m != 'imgengine.plugins.manager' or hasattr(sys.modules[m], '_MANAGERS') "
       "and sys.modules[m]._MANAGERS))\n"
       "print('HEAVY', ','.join(heavy))")

PLUGIN = '''
    import typer

    from imgengine.plugins import hookimpl

    app = typer.Typer(help="{text}")


    @app.command("run")
    def run():
        typer.echo("ran")


    @hookimpl
    def register_commands(cli):
        cli.add_typer(app, name="zap")
'''


def help_of(cwd: Path) -> tuple[str, str]:
    p = subprocess.run([sys.executable, "-c", RUN, "--help"], capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    text, _, heavy = p.stdout.rpartition("HEAVY ")
    return text, heavy.strip()


def cache_file() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "imgengine" / "commands.json"


def test_help_from_the_cache_matches_the_exact_list(tmp_path: Path):
    first, heavy_first = help_of(tmp_path)
    assert "analyze" in first and "faces" in first and "gpu-monitor" in first
    assert "imgengine.cli.analyze" in heavy_first  # no cache yet: every command module was imported
    assert cache_file().is_file()
    second, heavy_second = help_of(tmp_path)
    assert second == first
    assert heavy_second == ""  # from the cache: no command module, no plugin manager, no rich/numpy/PIL


def test_a_plugin_added_edited_or_removed_shows_at_once(tmp_path: Path):
    help_of(tmp_path)
    path = write_plugin(tmp_path / "plugins", "zap", PLUGIN.replace("{text}", "Zaps photos."))
    text, heavy = help_of(tmp_path)
    assert "zap" in text and "Zaps photos." in text and heavy  # a new plugin: listed the exact way
    assert help_of(tmp_path)[0] == text  # then cached again
    st = path.stat()
    path.write_text(path.read_text().replace("Zaps photos.", "Zaps pictures."))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert "Zaps pictures." in help_of(tmp_path)[0]
    path.unlink()
    text, _ = help_of(tmp_path)
    assert "zap" not in text.split("Commands:")[1]


def test_a_broken_or_foreign_cache_is_ignored(tmp_path: Path):
    exact, _ = help_of(tmp_path)
    for junk in ("{not json", json.dumps({"format": 1, "entries": {"x": 1}}), json.dumps([1, 2]), ""):
        cache_file().write_text(junk)
        assert help_of(tmp_path)[0] == exact
    # an entry claiming a command that no longer exists is stale as soon as a watched stamp differs
    data = json.loads(cache_file().read_text())
    (entry,) = data["entries"].values()
    entry["commands"].append({"name": "ghost", "help": "Not here.", "short_help": None, "hidden": False,
                              "deprecated": False})
    entry["stamps"][next(iter(entry["stamps"]))] = [0, 0]
    cache_file().write_text(json.dumps(data))
    assert "ghost" not in help_of(tmp_path)[0]


def test_an_unwritable_cache_folder_costs_nothing(tmp_path: Path):
    blocker = Path(os.environ["XDG_CACHE_HOME"])
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the cache folder would be")
    text, _ = help_of(tmp_path)
    assert "analyze" in text
