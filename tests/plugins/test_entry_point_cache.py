"""The entry-point scan is cached with the stamps of what it read, and scanned again when any changes."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

import pytest

from imgengine.plugins import discovery
from imgengine.plugins import manager as manager_mod
from imgengine.plugins.discovery import installed_entry_points

GROUP = "imgengine.plugins"


def fake_distribution(site: Path, name: str, version: str, entry_points: str) -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)
    return info


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_found_then_cached_then_rescanned_on_change(site: Path, monkeypatch):
    info = fake_distribution(site, "imgengine_plugin_x", "1.0", f"[{GROUP}]\nx = plugin_x:hooks\n")
    assert ("x", "plugin_x:hooks", "imgengine_plugin_x", "1.0") in installed_entry_points(GROUP)

    def no_scan(**kw):
        raise AssertionError("scanned although nothing changed")

    monkeypatch.setattr(importlib.metadata, "entry_points", no_scan)
    assert ("x", "plugin_x:hooks", "imgengine_plugin_x", "1.0") in installed_entry_points(GROUP)  # the cache
    monkeypatch.undo()
    monkeypatch.syspath_prepend(str(site))

    ep = info / "entry_points.txt"  # edited in place (an editable install): its own stamp changes
    st = ep.stat()
    ep.write_text(f"[{GROUP}]\ny = plugin_x:other\n")
    os.utime(ep, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    names = [e[0] for e in installed_entry_points(GROUP)]
    assert "y" in names and "x" not in names

    fake_distribution(site, "imgengine_plugin_z", "2.0", f"[{GROUP}]\nz = plugin_z\n")  # installed
    assert "z" in [e[0] for e in installed_entry_points(GROUP)]
    import shutil

    shutil.rmtree(info)  # removed
    assert "y" not in [e[0] for e in installed_entry_points(GROUP)]


def test_a_broken_cache_file_is_rescanned(site: Path):
    fake_distribution(site, "imgengine_plugin_w", "0.3", f"[{GROUP}]\nw = plugin_w\n")
    installed_entry_points(GROUP)
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "imgengine" / discovery.EP_CACHE
    for junk in ("{", "[]", '{"x": 1}'):
        cache.write_text(junk)
        assert ("w", "plugin_w", "imgengine_plugin_w", "0.3") in installed_entry_points(GROUP)


def test_the_manager_loads_a_cached_entry_point(site: Path):
    (site / "plugin_v.py").write_text('"""A plugin found through its entry point."""\n')
    fake_distribution(site, "imgengine_plugin_v", "0.2", f"[{GROUP}]\nv = plugin_v\n")
    for _ in range(2):  # scanned, then from the cache: loaded the same way both times
        m = manager_mod.PluginManager()
        info = m.infos["v"]
        assert info.loaded and info.source == "entry point" and info.origin == "imgengine_plugin_v 0.2"
    sys.modules.pop("plugin_v", None)
