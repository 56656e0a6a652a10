"""The faces analyzer: detect faces, embed each one, recognise known people.

``FaceRecognitionAnalyzer`` is both the registered ``faces`` analyzer and the class the documented example
uses directly::

    FaceRecognitionAnalyzer(known_faces_dir="Known_Faces", min_confidence=0.6).analyze("photo.jpg")

* Detection: BlazeFace (``face_models.BlazeFaceDetector``), score threshold ``min_score`` plus a landmark
  sanity check (BlazeFace also fires on cat faces), faces smaller than ``min_face_px`` dropped.
* Embedding: dlib's 128-d encoder on a 5-point-aligned chip (``face_models.DlibEmbedder``).
* Recognition: each face is compared with every reference face in ``known_faces_dir/<Name>/*.jpg``
  (the largest face of each reference photo). ``confidence`` maps the Euclidean distance ``d`` of the
  closest reference through a logistic centred on dlib's same-person threshold (0.6): ``d = 0.6`` is
  0.5, ``d = 0.5`` is 0.84, ``d = 0.7`` is 0.16. A face is named when its confidence reaches
  ``min_confidence``; ``0.6`` is about ``d <= 0.58``.

Clustering of unknown faces across the catalog lives in ``faces_index`` (it needs the whole catalog; this
analyzer sees one photo).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...analyzers.base import AnalysisInput, Result
from .. import hookimpl
from .base import ConfiguredAnalyzer
from .face_models import DetectedFace, FaceModelUnavailable, plausible_face

if TYPE_CHECKING:  # numpy is imported where pixels are handled, not when the plugin registers
    import numpy as np

log = logging.getLogger(__name__)

SAME_PERSON_DISTANCE = 0.6     # dlib's documented threshold for its encoder
_CONFIDENCE_SCALE = 0.06
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp")


def match_confidence(distance: float) -> float:
    """Confidence that two dlib embeddings at ``distance`` show the same person (0.5 at d = 0.6)."""
    return 1.0 / (1.0 + math.exp((distance - SAME_PERSON_DISTANCE) / _CONFIDENCE_SCALE))


@dataclass(frozen=True)
class FacesResult(Result):
    count: int
    faces: list[dict] = field(default_factory=list)    # box/landmarks normalised to the upright image (0..1)
    people: list[str] = field(default_factory=list)    # recognised names, sorted, once each
    model: str = ""


@dataclass
class KnownPeople:
    names: list[str]            # one per reference embedding
    vectors: np.ndarray         # (n, 128)
    skipped: list[str]          # reference photos without a usable face

    def match(self, vector: np.ndarray) -> tuple[str | None, float | None]:
        import numpy as np

        if not len(self.names):
            return None, None
        d = np.linalg.norm(self.vectors - vector[None, :], axis=1)
        i = int(np.argmin(d))
        return self.names[i], float(d[i])


class FaceRecognitionAnalyzer(ConfiguredAnalyzer):
    name: ClassVar[str] = "faces"
    version: ClassVar[str] = "1"
    needs_pixels: ClassVar[bool] = True
    description: ClassVar[str] = ("Faces (MediaPipe BlazeFace), 128-d face embeddings (dlib ResNet), people "
                                  "recognised from known_faces_dir; clusters of unknown faces with `imgengine faces`")
    config_defaults: ClassVar[dict[str, Any]] = {
        "enabled": False,            # opt-in: --plugin faces or plugins: {faces: {enabled: true}}
        "detector": "full",          # BlazeFace model: full | full_sparse | back | short
        "min_score": 0.5,            # detection score threshold
        "tiles": 1,                  # >1: also look at overlapping tiles (small faces in group photos)
        "min_face_px": 20,           # smaller faces (in pixels at pixel_size) are not reported
        "landmark_check": True,      # drop detections whose landmarks are not face-like
        "known_faces_dir": None,     # folder of <Name>/*.jpg reference photos
        "min_confidence": 0.6,       # recognition confidence needed to name a face
        "jitter": 0,                 # dlib re-sampling per face (slower, slightly more stable)
        "pixel_size": 1024,          # long side of the pixels faces are detected in
    }
    csv_fields: ClassVar[dict[str, str]] = {"face_count": "count", "people": "people"}
    pixel_size: ClassVar[int | None] = 1024

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.pixel_size = int(self.config["pixel_size"])  # type: ignore[misc]
        self._detector = None
        self._embedder = None
        self._known: KnownPeople | None = None

    def model_id(self) -> str:
        return f"blazeface-{self.config['detector']}+dlib-resnet-v1"

    @property
    def config_fingerprint(self) -> str:
        # the reference photos are part of the configuration: adding one changes who is recognised
        # (the folder is read once per analyzer: the engine asks for the version for every file)
        base = super().config_fingerprint
        known = self.config.get("known_faces_dir")
        if not known:
            return base
        if getattr(self, "_known_signature", None) is None:
            self._known_signature = _folder_signature(known)
        return f"{base}-{self._known_signature}"

    def setup(self, settings: Any = None) -> None:
        """Before a run: one clear message when a package, a weight file or the known-faces folder is missing."""
        from .face_models import check_face_models

        check_face_models()
        folder = self.config.get("known_faces_dir")
        if folder and not Path(folder).expanduser().is_dir():
            raise FaceModelUnavailable(f"known_faces_dir {folder}: no such folder (expected <Name>/*.jpg)")

    # -- models ------------------------------------------------------------------------------------
    def _models(self):
        if self._detector is None:
            from .face_models import BlazeFaceDetector, DlibEmbedder

            self._detector = BlazeFaceDetector(self.config["detector"], float(self.config["min_score"]),
                                               int(self.config["tiles"]))
            self._embedder = DlibEmbedder(int(self.config["jitter"]))
        return self._detector, self._embedder

    def known_people(self) -> KnownPeople:
        """The reference faces, embedded once per analyzer (a run; the folder's signature is part of
        ``version``, so a changed folder redoes the faces on the next run)."""
        import numpy as np

        if self._known is not None:
            return self._known
        folder = self.config.get("known_faces_dir")
        names: list[str] = []
        vectors: list[np.ndarray] = []
        skipped: list[str] = []
        if folder:
            root = Path(folder).expanduser()
            if not root.is_dir():
                raise FaceModelUnavailable(f"known_faces_dir {root}: no such folder (expected <Name>/*.jpg)")
            for person_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for ref in sorted(person_dir.iterdir()):
                    if ref.suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    try:
                        rgb = _load_rgb(ref, self.pixel_size)
                        faces = self._detect(rgb)
                    except Exception as exc:  # noqa: BLE001 - a bad reference photo costs only itself
                        log.warning("known face %s: %s", ref, exc)
                        skipped.append(str(ref))
                        continue
                    if not faces:
                        skipped.append(str(ref))
                        continue
                    largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
                    vectors.append(self._embedder.embed(rgb, [largest])[0])
                    names.append(person_dir.name)
        self._known = KnownPeople(names, np.stack(vectors) if vectors else np.zeros((0, 128), np.float32),
                                  skipped)
        return self._known

    def _detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        detector, _ = self._models()
        faces = detector.detect(rgb)
        min_px = float(self.config["min_face_px"])
        faces = [f for f in faces if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= min_px]
        if self.config["landmark_check"]:
            faces = [f for f in faces if plausible_face(f)]
        return faces

    # -- analysis ----------------------------------------------------------------------------------
    def analyze(self, item: AnalysisInput | str | os.PathLike) -> FacesResult:
        if isinstance(item, AnalysisInput):
            rgb = item.pixels_at(self.pixel_size)
        else:
            rgb = _load_rgb(Path(item), self.pixel_size)
        return self.analyze_pixels(rgb)

    def analyze_pixels(self, rgb: np.ndarray) -> FacesResult:
        import numpy as np

        if rgb.ndim == 2:
            rgb = np.stack([rgb] * 3, axis=-1)
        rgb = np.ascontiguousarray(rgb[..., :3])
        _, embedder = self._models()
        known = self.known_people()
        faces = self._detect(rgb)
        vectors = embedder.embed(rgb, faces)
        h, w = rgb.shape[:2]
        min_conf = float(self.config["min_confidence"])
        out, people = [], set()
        for face, vec in zip(faces, vectors, strict=True):
            name, dist = known.match(vec)
            conf = match_confidence(dist) if dist is not None else None
            person = name if conf is not None and conf >= min_conf else None
            if person:
                people.add(person)
            x0, y0, x1, y1 = face.box
            out.append({
                "box": [_r(max(0.0, x0) / w), _r(max(0.0, y0) / h), _r(min(w, x1) / w), _r(min(h, y1) / h)],
                "score": round(face.score, 4),
                "landmarks": {k: [_r(x / w), _r(y / h)] for k, (x, y) in face.keypoints.items()},
                "person": person,
                "confidence": None if conf is None else round(conf, 4),
                "closest": name,
                "distance": None if dist is None else round(dist, 4),
                "embedding": [round(float(v), 5) for v in vec],
            })
        return FacesResult(len(out), out, sorted(people), self.model_id())


def _r(v: float) -> float:
    return round(float(v), 5)


def _load_rgb(path: Path, size: int) -> np.ndarray:
    import numpy as np

    from ...core.decode import decode_for_analysis
    from ...core.photo import Photo

    return np.asarray(decode_for_analysis(Photo.from_path(Path(path)), None, size).image)


def _folder_signature(folder: str | os.PathLike | None) -> str:
    """A short fingerprint of the reference photos (names, sizes, mtimes) in a known-faces folder."""
    import hashlib

    if not folder:
        return ""
    root = Path(folder).expanduser()
    h = hashlib.sha1()
    try:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.lower().endswith(IMAGE_SUFFIXES):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{os.path.relpath(dirpath, root)}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    except OSError:
        return "missing"
    return h.hexdigest()[:8]


FacesAnalyzer = FaceRecognitionAnalyzer


@hookimpl
def register_analyzers() -> list[type]:
    return [FaceRecognitionAnalyzer]


@hookimpl
def register_commands(cli) -> None:
    from .faces_cli import faces_app

    cli.add_typer(faces_app, name="faces")


@hookimpl
def register_layouts() -> list:
    from .layouts import Layout

    return [Layout("person", "one folder per person (faces plugin)", '{person|"no people"}')]
