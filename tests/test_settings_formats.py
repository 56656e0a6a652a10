import io
from pathlib import Path

import pytest
from PIL import Image

from imgengine.core.formats import detect_format, extension_matches
from imgengine.errors import ConfigError
from imgengine.settings import Settings, load_settings


def test_settings_layers_in_order(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("workers: 3\nblur_threshold: 50\nlog_dir: /tmp/x\nanalyzers: [metadata, hashes]\n")
    s = load_settings(cfg, environ={}, overrides={})
    assert s.workers == 3 and s.blur_threshold == 50.0 and s.log_dir == Path("/tmp/x")
    assert s.analyzers == ("metadata", "hashes")
    s = load_settings(cfg, environ={"IMGENGINE_WORKERS": "5", "IMGENGINE_FORCE": "yes"}, overrides={})
    assert s.workers == 5 and s.force is True
    s = load_settings(cfg, environ={"IMGENGINE_WORKERS": "5"}, overrides={"workers": 7, "force": None})
    assert s.workers == 7 and s.force is False  # a flag not given (None) does not override


def test_settings_defaults_without_config(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings(None, environ={})
    assert s == Settings()
    assert s.effective_workers() >= 1
    assert s.catalog_path(tmp_path) == tmp_path / ".imgengine" / "catalog.db"


@pytest.mark.parametrize("text,msg", [
    ("workers: many\n", "workers"),
    ("- a list\n", "mapping"),
    ("workers: [1\n", "cannot read config"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, msg: str):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_settings(cfg, environ={})


def test_unknown_setting_is_a_warning_not_an_error(tmp_path: Path):
    # was an error; a config written for a plugin that is not installed must not break every command
    cfg = tmp_path / "c.yaml"
    cfg.write_text("no_such_setting: 1\nworkers: 3\n")
    s = load_settings(cfg, environ={})
    assert s.workers == 3
    assert len(s.warnings) == 1 and "unknown setting 'no_such_setting'" in s.warnings[0]


def test_plugin_sections_from_yaml_and_environment(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("plugins:\n  faces:\n    min_confidence: 0.6\n    model: small\n")
    s = load_settings(cfg, environ={"IMGENGINE_PLUGINS__FACES__MIN_CONFIDENCE": "0.8",
                                    "IMGENGINE_PLUGINS__OCR__LANG": "de"})
    assert s.plugins == {"faces": {"min_confidence": "0.8", "model": "small"}, "ocr": {"lang": "de"}}
    assert s.warnings == ()
    with pytest.raises(ConfigError, match="plugins"):
        cfg.write_text("plugins: [a, b]\n")
        load_settings(cfg, environ={})


def test_missing_config_and_bad_env():
    with pytest.raises(ConfigError, match="not found"):
        load_settings(Path("/nonexistent/c.yaml"), environ={})
    with pytest.raises(ConfigError, match="force"):
        load_settings(None, environ={"IMGENGINE_FORCE": "perhaps"})


def _bytes(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,name", [("JPEG", "jpeg"), ("PNG", "png"), ("TIFF", "tiff"), ("WEBP", "webp"),
                                      ("GIF", "gif"), ("BMP", "bmp")])
def test_detect_format_from_bytes(fmt: str, name: str):
    assert detect_format(_bytes(fmt)[:64]) == name


def test_detect_heic_avif_raw_and_garbage():
    import pillow_heif

    pillow_heif.register_heif_opener()
    assert detect_format(_bytes("HEIF")[:64]) == "heic"
    assert detect_format(_bytes("AVIF")[:64]) == "avif"
    tiff = _bytes("TIFF")[:64]
    assert detect_format(tiff, ".NEF") == "raw"
    assert detect_format(tiff, ".dng") == "raw"
    assert detect_format(b"IIRO\x08\x00\x00\x00", ".orf") == "raw"
    assert detect_format(b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", ".cr3") == "raw"
    assert detect_format(b"Hello, I am text") is None
    assert detect_format(b"") is None


def test_extension_mismatch():
    assert extension_matches("jpeg", ".JPG") and extension_matches("jpeg", ".jpeg")
    assert not extension_matches("png", ".jpg")
    assert extension_matches("heic", ".HEIF") and extension_matches("raw", ".CR2")
