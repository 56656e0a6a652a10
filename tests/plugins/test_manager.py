"""The plugin manager: built-ins through the hooks, folder plugins, import failures, duplicates, selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.errors import UsageError
from imgengine.plugins.manager import PluginManager, dependency_order, get_manager
from imgengine.settings import Settings

from .helpers import BRIGHTNESS_PLUS, BROKEN_IMPORT, write_plugin


def test_builtins_register_through_the_hooks():
    m = PluginManager(external=False)
    classes = m.analyzer_classes()
    assert list(classes) == ["metadata", "content", "hashes", "clip", "detr", "scene_custom", "faces", "places",
                             "ocr", "aesthetics", "thumbnails"]
    assert {n: p for n, (_c, p) in classes.items()} == {"metadata": "analyzers", "content": "analyzers",
                                                       "hashes": "analyzers", "clip": "vision", "detr": "vision",
                                                       "scene_custom": "vision",
                                                       "faces": "faces", "places": "places", "ocr": "ocr",
                                                       "aesthetics": "aesthetics", "thumbnails": "thumbnails"}
    assert set(m.writers()) == {".json", ".csv", ".parquet", ".sqlite", ".sqlite3"}
    assert set(m.layouts()) == {"date", "event", "tag", "camera", "place", "person"}
    assert all(i.source == "built-in" and i.loaded for i in m.infos.values())
    assert m.infos["commands"].hooks == ["register_commands"]


def test_folder_plugin_failures_are_recorded_never_fatal(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_plugin(a, "bright", BRIGHTNESS_PLUS)
    write_plugin(a, "broken", BROKEN_IMPORT)
    write_plugin(b, "bright", BRIGHTNESS_PLUS)        # same plugin name in a second folder
    write_plugin(b, "metadata_again", BRIGHTNESS_PLUS.replace('name = "brightness_plus"', 'name = "metadata"'))
    m = PluginManager([a, b], cwd=tmp_path)
    assert m.infos["bright"].loaded and m.infos["bright"].version == "0.3" and m.infos["bright"].source == "folder"
    classes = m.analyzer_classes()
    assert "brightness_plus" in classes and classes["metadata"][1] == "analyzers"
    problems = {p.name: p for p in m.problems}
    assert "ModuleNotFoundError" in problems["broken"].error and "imgengine_no_such_dependency" in \
        problems["broken"].traceback
    assert "duplicate plugin name 'bright'" in [p for p in m.problems if p.name == "bright"][0].error
    assert "analyzer name 'metadata' is taken" in problems["metadata_again"].error
    assert m.infos["bright"].config_defaults == {"brightness_plus": {"factor": 2.0}}


def test_selection_requires_and_flags(tmp_path: Path):
    write_plugin(tmp_path / "p", "bright", BRIGHTNESS_PLUS)
    m = PluginManager([tmp_path / "p"], cwd=tmp_path)
    s = Settings()
    # a requirement joins the run and runs first
    assert list(m.select(s, ["brightness_plus"])) == ["content", "brightness_plus"]
    assert list(m.select(s, ["metadata"], enable=["bright"])) == ["metadata", "content", "brightness_plus"]
    assert "brightness_plus" not in m.select(s, (), disable=["bright"])
    assert list(m.select(s, (), disable=["vision", "bright"])) == ["metadata", "content", "hashes"]
    with pytest.raises(UsageError, match="requires 'content'"):
        m.select(s, (), disable=["content"])
    with pytest.raises(UsageError, match="unknown analyzer"):
        m.select(s, ["nope"])
    # config: declared defaults, then the settings section
    chosen = m.select(s.replace(plugins={"brightness_plus": {"factor": 3}}), ["brightness_plus"])
    assert chosen["brightness_plus"].config == {"factor": 3}
    assert chosen["brightness_plus"].stored_version.startswith("2+cfg.")
    assert m.select(s, ["brightness_plus"])["brightness_plus"].stored_version != \
        chosen["brightness_plus"].stored_version
    # an analyzer switched off in its section stays out unless asked for
    assert "brightness_plus" not in m.select(s.replace(plugins={"brightness_plus": {"enabled": False}}), ())


def test_dependency_order_and_cycles():
    assert dependency_order({"c": ["a"], "a": [], "b": ["c"]}, ["a", "b", "c"]) == ["a", "c", "b"]
    with pytest.raises(UsageError, match="cycle"):
        dependency_order({"a": ["b"], "b": ["a"]}, ["a", "b"])


def test_plugins_list_and_info_cli(tmp_path: Path, monkeypatch):
    write_plugin(tmp_path / "plugins", "bright", BRIGHTNESS_PLUS)
    write_plugin(tmp_path / "plugins", "broken", BROKEN_IMPORT)
    monkeypatch.chdir(tmp_path)  # ./plugins/ is a plugin folder
    runner = CliRunner()
    out = runner.invoke(app, ["plugins", "list", "--json"])
    assert out.exit_code == 0, out.output
    doc = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    assert doc["vision"]["analyzers"] == ["clip", "detr", "scene_custom"] and doc["vision"]["source"] == "built-in"
    assert doc["bright"]["loaded"] and doc["bright"]["categories"] == ["analyzer"]
    assert doc["bright"]["origin"] == str(tmp_path / "plugins" / "bright.py")
    assert doc["bright"]["analyzer_details"][0]["requires"] == ["content"]
    assert not doc["broken"]["loaded"] and "imgengine_no_such_dependency" in doc["broken"]["error"]
    out = runner.invoke(app, ["plugins", "list"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "bright" in out.output and "not loaded" in out.output
    out = runner.invoke(app, ["plugins", "info", "brightness_plus", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["name"] == "bright"
    out = runner.invoke(app, ["plugins", "info", "broken"])
    assert out.exit_code == 0 and "Traceback" in out.output
    out = runner.invoke(app, ["plugins", "info", "nothing"])
    assert out.exit_code == 2


def test_manager_is_built_once_per_folder_set(tmp_path: Path):
    s = Settings(plugin_dirs=(str(tmp_path),))
    assert get_manager(s) is get_manager(s)
    assert get_manager(s) is not get_manager(Settings())


def test_analyzer_whose_constructor_fails_is_left_out(tmp_path: Path):
    write_plugin(tmp_path / "p", "fussy", '''
from imgengine.analyzers.base import Analyzer
from imgengine.plugins import hookimpl


class Fussy(Analyzer):
    name = "fussy"

    def __init__(self, config=None):
        raise RuntimeError("no licence key")


@hookimpl
def register_analyzers():
    return [Fussy]
''')
    m = PluginManager([tmp_path / "p"], cwd=tmp_path)
    chosen = m.select(Settings(), ())
    assert "fussy" not in chosen and "metadata" in chosen
    assert any("could not be created: RuntimeError: no licence key" in (p.error or "") for p in m.problems)
