"""The OCR analyzer: text in photos (documents, screenshots, receipts, signs) with RapidOCR.

RapidOCR 3.x ships PaddleOCR's PP-OCR detection, orientation and recognition models as ONNX files inside
its wheel and runs them with onnxruntime; nothing is downloaded. Lines are stored with their box (0-1,
clockwise from top-left) and confidence; the full text goes into the catalog's FTS5 index
(``ocr_text``) so ``imgengine search --text "invoice 2023"`` finds it.

``mode``: ``always`` reads every photo; ``never`` none; ``auto`` (default) is a two-step gate before the
full read: photos with almost no edges at the shared 512-px size are skipped (skies, blank walls, blurred
frames: text always makes edges), then PP-OCR's text *detector* alone looks at the photo at
``auto_gate_size`` px (a tenth of a full read's time); only photos where it finds a text box are read at
``pixel_size`` (detection again at full size, then orientation and recognition of each box). The gate
size was chosen on one half of a labelled set and is scored on the other half by
``benchmarks/bench_plugins.py --only ocr-gate``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ...analyzers.base import AnalysisInput, Result
from ...core.catalog import Catalog
from ...errors import ModelUnavailableError
from .. import hookimpl
from .base import ConfiguredAnalyzer

if TYPE_CHECKING:  # numpy is imported where pixels are handled, not when the plugin registers
    import numpy as np

MODES = ("always", "auto", "never")


@dataclass(frozen=True)
class OcrResult(Result):
    ran: bool
    text: str = ""
    lines: list[dict] = field(default_factory=list)
    reason: str | None = None        # why it did not run (mode never, too few edges)


def edge_density(rgb: np.ndarray) -> float:
    """Fraction of pixels on a Canny edge at ~512 px: under 0.4 % for skies and blank walls."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    return float((cv2.Canny(gray, 80, 200) > 0).mean())


def gate_pixels(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` enlarged to ``size`` px on its long side when smaller: the reader enlarges a small photo (its
    detector wants 736 px on the short side), so text in a 100-px thumbnail is found there, and the gate must
    look at it at a comparable scale."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) >= size:
        return rgb
    scale = size / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_LINEAR)


class OcrAnalyzer(ConfiguredAnalyzer):
    name: ClassVar[str] = "ocr"
    version: ClassVar[str] = "1"
    needs_pixels: ClassVar[bool] = True
    description: ClassVar[str] = "Text in photos (RapidOCR: PP-OCR ONNX models), searchable with search --text"
    config_defaults: ClassVar[dict[str, Any]] = {
        "enabled": False,            # opt-in: --plugin ocr or plugins: {ocr: {enabled: true}}
        "mode": "auto",              # always | auto | never
        "auto_min_edges": 0.004,     # auto: skip photos with fewer edge pixels than this fraction
        "auto_gate_size": 960,       # auto: long side the text detector looks at before a full read (0 = no gate)
        "auto_gate_box_score": 0.5,  # auto: the detector's box score that counts as text at the gate
        "min_score": 0.5,            # lines recognised with less confidence are dropped
        "pixel_size": 1600,          # long side of the pixels text is read from
        "threads": 1,                # onnxruntime threads per worker (the pool already uses every core)
    }
    unversioned_keys: ClassVar[tuple[str, ...]] = ("threads",)
    csv_fields: ClassVar[dict[str, str]] = {"ocr_text": "text"}
    pixel_size: ClassVar[int | None] = 1600

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        if self.config["mode"] not in MODES:
            from ...errors import ConfigError

            raise ConfigError(f"plugins.ocr.mode {self.config['mode']!r}: choose {', '.join(MODES)}")
        self.pixel_size = int(self.config["pixel_size"])  # type: ignore[misc]
        self._engine = None
        self._gate = None

    def model_id(self) -> str:
        return "rapidocr3-ppocr"

    def setup(self, settings: Any = None) -> None:
        """Before a run: one clear message when rapidocr or onnxruntime is missing."""
        import importlib.util

        if self.config["mode"] == "never":
            return
        for module, package in (("rapidocr", "rapidocr"), ("onnxruntime", "onnxruntime")):
            if importlib.util.find_spec(module) is None:
                raise ModelUnavailableError(f"OCR needs the {package!r} package: pip install 'rapidocr>=3' onnxruntime")

    def _load(self):
        if self._engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise ModelUnavailableError(f"OCR needs rapidocr and onnxruntime ({exc}): "
                                            "pip install 'rapidocr>=3' onnxruntime")
            threads = int(self.config["threads"])
            self._engine = RapidOCR(params={
                "Global.log_level": "error", "Global.text_score": float(self.config["min_score"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1})
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # "detection result is empty" per photo
        return self._engine

    def _gate_engine(self):
        """The text detector alone, fitting the photo's long side to ``auto_gate_size`` (the full reader keeps
        rapidocr's own sizing); it shares nothing with the reader but the model file."""
        if self._gate is None:
            from rapidocr import RapidOCR

            self._load()  # one clear message when rapidocr is missing
            self._gate = RapidOCR(params={
                "Global.log_level": "error", "Global.use_cls": False, "Global.use_rec": False,
                "Det.limit_type": "max", "Det.limit_side_len": int(self.config["auto_gate_size"]),
                "Det.box_thresh": float(self.config["auto_gate_box_score"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": int(self.config["threads"]),
                "EngineConfig.onnxruntime.inter_op_num_threads": 1})
        return self._gate

    def text_boxes(self, rgb: np.ndarray) -> int:
        """How many text boxes the detector finds in ``rgb`` (already at the gate size)."""
        import numpy as np

        out = self._gate_engine()(np.ascontiguousarray(rgb[..., ::-1]), use_det=True, use_cls=False, use_rec=False)
        return 0 if out.boxes is None else len(out.boxes)

    def gate(self, item: AnalysisInput) -> str | None:
        """``auto``'s reason to skip the photo, or None to read it."""
        density = edge_density(item.pixels_at(512))
        if density < float(self.config["auto_min_edges"]):
            return f"auto: few edges ({density:.3f})"
        size = int(self.config["auto_gate_size"])
        if size and not self.text_boxes(gate_pixels(item.pixels_at(min(size, self.pixel_size)), size)):
            return f"auto: no text found at {size} px"
        return None

    def analyze(self, item: AnalysisInput) -> OcrResult:
        mode = self.config["mode"]
        if mode == "never":
            return OcrResult(False, reason="mode never")
        if mode == "auto":
            reason = self.gate(item)
            if reason:
                return OcrResult(False, reason=reason)
        return self.read(item.pixels_at(self.pixel_size))

    def read(self, rgb: np.ndarray) -> OcrResult:
        import numpy as np

        engine = self._load()
        out = engine(np.ascontiguousarray(rgb[..., ::-1]))   # RapidOCR takes OpenCV's BGR order
        h, w = rgb.shape[:2]
        lines = []
        if out.txts:
            for text, score, box in zip(out.txts, out.scores, out.boxes, strict=False):
                if float(score) < float(self.config["min_score"]) or not text.strip():
                    continue
                lines.append({"text": text, "score": round(float(score), 4),
                              "box": [[round(float(x) / w, 4), round(float(y) / h, 4)] for x, y in box]})
        return OcrResult(True, "\n".join(line["text"] for line in lines), lines)


def sync_ocr_index(catalog: Catalog) -> int:
    """Copy new or changed OCR results into the FTS5 index; returns the photos updated."""
    db = catalog.session   # SQLite, or PostgreSQL translated (catalog.dialect)
    stale = db.execute(
        "SELECT r.photo_id, r.data, r.updated_at FROM results r "
        "LEFT JOIN plugin_sync s ON s.photo_id = r.photo_id AND s.analyzer = r.analyzer "
        "WHERE r.analyzer = 'ocr' AND (s.result_updated_at IS NULL OR s.result_updated_at != r.updated_at)").fetchall()
    with db:
        # a photo re-analysed without OCR lost its result: its text leaves the index too
        gone = "SELECT photo_id FROM results WHERE analyzer = 'ocr'"
        db.execute(f"DELETE FROM ocr_text WHERE rowid NOT IN ({gone})")
        db.execute(f"DELETE FROM plugin_sync WHERE analyzer = 'ocr' AND photo_id NOT IN ({gone})")
        for row in stale:
            db.execute("DELETE FROM ocr_text WHERE rowid = ?", (row["photo_id"],))
            text = (json.loads(row["data"]) or {}).get("text") if row["data"] else None
            if text:
                db.execute("INSERT INTO ocr_text (rowid, text) VALUES (?, ?)", (row["photo_id"], text))
            db.execute("INSERT OR REPLACE INTO plugin_sync (photo_id, analyzer, result_updated_at) VALUES (?,?,?)",
                       (row["photo_id"], "ocr", row["updated_at"]))
    return len(stale)


@hookimpl
def register_analyzers() -> list[type]:
    return [OcrAnalyzer]
