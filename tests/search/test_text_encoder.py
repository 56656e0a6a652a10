"""The ONNX text tower: exported from a tiny random CLIP through the real loading code, compared with torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

from imgengine.cli.app import app  # noqa: E402
from imgengine.engine.run import run_analysis  # noqa: E402
from imgengine.search.query import ClipEncoder, search  # noqa: E402
from imgengine.search.text_encoder import export_folder, text_encoder  # noqa: E402
from imgengine.settings import Settings  # noqa: E402
from imgengine.testing.models import build_clip  # noqa: E402

TEXTS = ("a red car parked in the snow", "Two PEOPLE, laughing!", "", "ünïcödé straße 東京", "word " * 120)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    return build_clip(tmp_path_factory.mktemp("clip") / "clip")


def _settings(tmp: Path, clip: Path) -> Settings:
    return Settings(clip_model=str(clip), detr_model="absent/detr", models_dir=tmp / "models", device="cpu",
                    workers=1, log_dir=tmp / "logs")


def _env(tmp: Path, clip: Path) -> dict[str, str]:
    return {"IMGENGINE_CLIP_MODEL": str(clip), "IMGENGINE_MODELS_DIR": str(tmp / "models"),
            "IMGENGINE_DETR_MODEL": "absent/detr"}


def test_export_then_onnx_matches_torch_on_new_texts(clip_dir, tmp_path):
    s = _settings(tmp_path, clip_dir)
    assert text_encoder(s)[1] == "torch"                               # nothing exported yet
    r = CliRunner().invoke(app, ["models", "export-text"], env=_env(tmp_path, clip_dir))
    assert r.exit_code == 0, r.output
    folder = export_folder(s, str(clip_dir))
    record = json.loads((folder / "export.json").read_text())
    assert record["parity"]["min_cosine"] >= 0.9999 and (folder / "text.onnx").is_file()
    onnx, kind = text_encoder(s)
    assert kind == "onnx"
    torch_side = ClipEncoder(s)
    for text in TEXTS:                                                 # texts the export never saw
        a, b = onnx.text(text), torch_side.text(text)
        assert a.shape == b.shape == (16,)
        assert float(np.dot(a, b)) > 0.9999 and np.abs(a - b).max() < 1e-4, text
    # same tokens as transformers' tokenizer, truncation included
    hf = torch_side.runner.tokenizer([TEXTS[-1]], truncation=True, max_length=77)["input_ids"][0]
    assert onnx.tokenizer.encode(TEXTS[-1]).ids == hf and len(hf) == 77


def test_weights_live_beside_the_graph_and_a_new_export_replaces_them(clip_dir, tmp_path):
    s = _settings(tmp_path, clip_dir)
    env = _env(tmp_path, clip_dir)
    assert CliRunner().invoke(app, ["models", "export-text"], env=env).exit_code == 0
    folder = export_folder(s, str(clip_dir))
    (first,) = folder.glob("text.*.data")  # the weights, mapped by onnxruntime instead of copied
    assert first.stat().st_size > (folder / "text.onnx").stat().st_size
    before = text_encoder(s)[0].text("a boat")
    assert CliRunner().invoke(app, ["models", "export-text"], env=env).exit_code == 0
    (second,) = folder.glob("text.*.data")  # the earlier export's weights are gone, the new ones in use
    assert second != first
    onnx, kind = text_encoder(s)
    assert kind == "onnx" and np.array_equal(onnx.text("a boat"), before)


def test_a_changed_model_falls_back_to_torch(clip_dir, tmp_path):
    clip = build_clip(tmp_path / "clip_copy")
    s = _settings(tmp_path, clip)
    assert CliRunner().invoke(app, ["models", "export-text"], env=_env(tmp_path, clip)).exit_code == 0
    assert text_encoder(s)[1] == "onnx"
    build_clip(clip, seed=1)                                           # the same name, new weights
    assert text_encoder(s)[1] == "torch"
    (export_folder(s, str(clip)) / "export.json").write_text("{broken")
    assert text_encoder(s)[1] == "torch"


def test_no_model_is_one_line(tmp_path):
    r = CliRunner().invoke(app, ["models", "export-text"], env=_env(tmp_path, tmp_path / "nothing"))
    assert r.exit_code == 1 and "not exported" in r.output and "Traceback" not in r.output


def test_search_ranks_the_same_and_never_imports_torch(clip_dir, tmp_path):
    from tests.test_vision import make_photos

    make_photos(tmp_path / "photos")
    s = _settings(tmp_path, clip_dir)
    result = run_analysis(tmp_path / "photos", s)
    from imgengine.core.catalog import Catalog

    with Catalog(result.catalog_path) as cat:
        torch_hits, info = search(cat, s, text="a dog on the beach", limit=5)
    assert info["text_encoder"] == "torch"
    assert CliRunner().invoke(app, ["models", "export-text"], env=_env(tmp_path, clip_dir)).exit_code == 0
    with Catalog(result.catalog_path) as cat:
        onnx_hits, info = search(cat, s, text="a dog on the beach", limit=5)
    assert info["text_encoder"] == "onnx"
    assert [h.photo_id for h in onnx_hits] == [h.photo_id for h in torch_hits]
    assert np.allclose([h.score for h in onnx_hits], [h.score for h in torch_hits], atol=1e-3)
    # a whole `imgengine search` process with the export: torch and transformers are never imported
    code = ("import sys; sys.argv = ['imgengine'] + sys.argv[1:]\n"
            "from imgengine.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print('HEAVY', [m for m in ('torch', 'transformers') if m in sys.modules])\n")
    p = subprocess.run([sys.executable, "-c", code, "search", "a dog", "--catalog", str(result.catalog_path),
                        "--json"], env={**os.environ, **_env(tmp_path, clip_dir)}, capture_output=True, text=True,
                       timeout=120)
    assert "HEAVY []" in p.stdout, p.stdout + p.stderr
    assert json.loads(p.stdout.splitlines()[0])["info"]["text_encoder"] == "onnx"
