"""The analyzer contract (per-file :class:`Analyzer`, batch :class:`BatchAnalyzer`) and the per-file input
shared by all analyzers of one file.

Built-in and third-party analyzers use this one contract and register through the
``register_analyzers`` plugin hook (:mod:`imgengine.plugins.hookspecs`). Importing this module imports
no numpy/PIL: the decoder is imported the first time pixels are asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from ..core.photo import Photo
from ..settings import Settings

if TYPE_CHECKING:  # decoding imports numpy and Pillow: only when an analyzer asks for pixels
    from ..core.decode import DecodedImage

# files up to this size are read once into memory and shared by every analyzer (bytes for the
# sha256, the EXIF parser and the decoder); larger ones are streamed from disk.
MAX_BUFFERED_BYTES = 96 * 1024 * 1024


class AnalysisInput:
    """Everything analyzers of one file share: the bytes (read once) and the pixels (decoded once).

    ``pixels`` is decoded lazily on first use, so a metadata-only run never decodes; a decode error is
    raised to every analyzer that asks for pixels, and recorded once by the pipeline.
    """

    def __init__(self, photo: Photo, settings: Settings, data: bytes | None = None, decode_size: int | None = None,
                 results: dict[str, dict[str, Any]] | None = None):
        self.photo = photo
        self.settings = settings
        self._data = data
        self._pixels: DecodedImage | None = None     # the analysis-size view of the one decode
        self._decoded: DecodedImage | None = None    # the one decode (at decode_size)
        self._pixel_error: Exception | None = None
        self.decodes = 0               # how many times the file was decoded (1 in an engine run)
        self._sized: dict[int, Any] = {}      # numpy arrays per long side
        self._images: dict[int, Any] = {}     # Pillow images per long side
        self.decode_seconds = 0.0      # wall time spent decoding (perf_counter)
        self.decode_cpu_seconds = 0.0  # CPU time of this thread spent decoding (thread_time)
        # long side of the one decode: the largest ``pixel_size`` any selected analyzer asked for
        self.decode_size = max(settings.analysis_size, decode_size or 0)
        # results of the analyzers that ran before on this file (what ``requires`` names), as dicts
        self.results: dict[str, dict[str, Any]] = results if results is not None else {}

    @property
    def data(self) -> bytes | None:
        """The file's bytes if it is small enough to buffer (read on first use), else None."""
        if self._data is None and self.photo.size <= MAX_BUFFERED_BYTES:
            with open(self.photo.path, "rb") as fh:
                self._data = fh.read()
        return self._data

    @property
    def data_if_read(self) -> bytes | None:
        """The bytes if some stage already read them, else None (a header-only reader then maps the file)."""
        return self._data

    def open(self) -> BinaryIO:
        """A binary stream over the file: the shared bytes when already read, else the file itself
        (a header-only reader then reads only the header)."""
        if self._data is not None:
            return io.BytesIO(self._data)
        return open(self.photo.path, "rb")

    @property
    def pixels(self) -> DecodedImage:
        """The shared analysis-size decode (long side ``settings.analysis_size``): the pixels a decode to that
        size gives, even when the one decode was made larger for another analyzer (so enabling faces or
        OCR does not change the content and hash results)."""
        if self._pixel_error is not None:
            raise self._pixel_error
        if self._pixels is None:
            decoded = self._decoded or self._decode(self.decode_size)
            size = self.settings.analysis_size
            if decoded.source_image is None:
                self._pixels = decoded
            else:
                self._pixels = dataclasses.replace(decoded, image=decoded.at_size(size),
                                                   pixels_source=decoded.source_label(size), source_image=None)
        return self._pixels

    @property
    def decoded(self) -> DecodedImage | None:
        """The file's one decode if some analyzer asked for pixels (at ``decode_size``), else None."""
        return self._decoded

    def _decode(self, size: int) -> DecodedImage:
        """The file's decode at ``size``, keeping the unfitted pixels when some analyzer wants other sizes."""
        from ..core.decode import decode_for_analysis

        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            self._decoded = decode_for_analysis(self.photo, self.data, size, self.settings.max_pixels,
                                                keep_source=size > self.settings.analysis_size)
            self.decodes += 1
        except Exception as exc:
            self._pixel_error = exc
            raise
        finally:
            self.decode_seconds += time.perf_counter() - t0
            self.decode_cpu_seconds += time.thread_time() - c0
        return self._decoded

    def image_at(self, long_side: int | None = None):
        """Upright RGB Pillow image, long side at most ``long_side`` (None = the shared analysis size): the
        pixels a decode to that size gives, made from the file's one decode; cached per size. The engine
        decodes at the largest ``pixel_size`` of the run's analyzers; a direct caller that asks for more than
        ``decode_size`` gets one larger decode (counted in ``decodes``)."""
        size = long_side or self.settings.analysis_size
        img = self._images.get(size)
        if img is None:
            if self._pixel_error is not None:
                raise self._pixel_error
            if size == self.settings.analysis_size:
                img = self.pixels.image
            else:
                if size > self.decode_size:
                    self.decode_size = size
                    self._decode(size)
                decoded = self._decoded or self._decode(self.decode_size)
                img = decoded.at_size(size)
            self._images[size] = img
        return img

    def pixels_at(self, long_side: int | None = None):
        """:meth:`image_at` as an RGB uint8 numpy array (H, W, 3); cached per size."""
        size = long_side or self.settings.analysis_size
        arr = self._sized.get(size)
        if arr is None:
            import numpy as np

            arr = self._sized[size] = np.asarray(self.image_at(size))
        return arr


@dataclass(frozen=True)
class Result:
    """Base for analyzer results: frozen dataclasses that serialise to JSON-ready dicts."""

    def to_dict(self) -> dict[str, Any]:
        # shallow walk over the fields: dataclasses.asdict deep-copies every value, which cost more than
        # reading a photo's EXIF on the metadata-only path
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        return {name: to_jsonable(getattr(self, name)) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_PLAIN = (str, int, bool, type(None))


def to_jsonable(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if type(value) is float:  # before the dataclass test: most metadata values are plain floats
        return round(value, 6) if value == value and value not in (float("inf"), float("-inf")) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return round(value, 6) if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return to_jsonable(value.item())
    return value


ENGINE_KEYS = ("timeout", "enabled")  # per-analyzer settings the engine reads; not part of the result version


class Analyzer:
    """A per-file analyzer: subclass, set ``name``/``version``/``needs_pixels``, implement ``analyze``.

    Runs in the process pool, one task per file; every per-file analyzer of a file shares one read of
    its bytes and one decode of its pixels. Bump ``version`` whenever the output changes: on the next
    run only this analyzer is redone (as it is when its config changes: see :attr:`stored_version`).
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    needs_pixels: ClassVar[bool] = False
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "per-file"
    #: this analyzer's config section (``plugins: {name: {...}}``) with its defaults; merged into ``self.config``
    config_defaults: ClassVar[Mapping[str, Any]] = {}
    #: names of analyzers whose results it reads from ``item.results`` (they run first)
    requires: ClassVar[tuple[str, ...]] = ()
    #: it also reads the photo's XMP sidecar: an incremental run redoes it when only the sidecar changed
    #: (its result's ``sidecar_stamp`` is compared with the sidecar's name, size and mtime now)
    reads_sidecars: ClassVar[bool] = False
    #: flat CSV columns: column name -> key (dotted path) in this analyzer's result dict
    csv_fields: ClassVar[Mapping[str, str]] = {}
    #: long side of the pixels it wants (None = the shared ``analysis_size``, 512 px)
    pixel_size: ClassVar[int | None] = None

    def __init__(self, config: Mapping[str, Any] | None = None):
        self.config: dict[str, Any] = {**self.config_defaults, **(config or {})}

    def setup(self, settings: Settings) -> None:
        """Called once in the parent process before planning (e.g. to find model weights and set a
        version that includes the model). Raise ``ModelUnavailableError`` to be skipped with one line."""

    @property
    def config_fingerprint(self) -> str:
        """8 hex digits of the merged config (engine keys left out); empty when it declares no config."""
        if not self.config_defaults:
            return ""
        relevant = {k: v for k, v in self.config.items() if k not in ENGINE_KEYS}
        text = json.dumps(relevant, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def stored_version(self) -> str:
        """The version stored with each result: ``version`` plus the config fingerprint, so that a
        config change re-runs only this analyzer."""
        fp = self.config_fingerprint
        return f"{self.version}+cfg.{fp}" if fp else str(self.version)

    def analyze(self, item: AnalysisInput) -> Result:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class InputSpec:
    """What a batch analyzer wants from the shared loader (one decode per photo feeds every spec).

    ``crop=True``: resize the shortest edge to ``resize`` (0 = ``size``), then a centre crop ``size`` x
    ``size`` (CLIP-style; the crops are stacked). ``crop=False``: resize the long side to ``size`` (DETR-
    style; images are padded to the batch's largest and a pixel mask says what is image).
    Pixels arrive as uint8 (B, 3, H, W); normalise on the device (``mean``/``std`` are there for that).
    """

    size: int
    crop: bool = False
    resize: int = 0
    resample: str = "bicubic"                  # "bicubic" | "bilinear"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def decode_size(self) -> int:
        """Long side to decode to: enough for a shortest-edge resize of a 2:1 image, or the long side."""
        return 2 * max(self.resize, self.size) if self.crop else self.size


@dataclass
class Batch:
    """One batch for a :class:`BatchAnalyzer`: rows are photos, in the same order in every field."""

    paths: list[Path]
    pixels: Any = None                        # uint8 tensor (B, 3, H, W), or None when input_spec is None
    mask: Any = None                          # (B, H, W) long tensor for crop=False specs: 1 = image
    upright_sizes: list[tuple[int, int]] = field(default_factory=list)   # (width, height) of each photo
    results: list[dict[str, dict[str, Any]]] = field(default_factory=list)  # the ``requires`` results
    device: str = "cpu"

    def __len__(self) -> int:
        return len(self.paths)


class BatchAnalyzer(Analyzer):
    """A batch analyzer (GPU/ONNX model): the engine feeds it batches from the shared loader.

    ``input_spec`` says what pixels it wants (None = none: it reads only ``requires`` results, e.g. an
    aesthetics head over CLIP embeddings); ``load(device)`` loads the model once per run, ``run(batch)``
    returns one result (a ``Result`` or a dict) per row. A CUDA out-of-memory error in ``run`` halves the
    batch and retries the same photos; ``batch_size`` gives the starting size per device kind.
    """

    kind: ClassVar[str] = "batch"
    needs_pixels: ClassVar[bool] = True
    input_spec: InputSpec | None = None
    batch_size: ClassVar[Mapping[str, int]] = {"cuda": 64, "cpu": 8}

    def load(self, device: str) -> None:  # pragma: no cover - interface
        """Load the model onto ``device`` ("cpu", "cuda", "cuda:1"). Called once per run, only when
        some photo needs this analyzer. Raise ``ModelUnavailableError`` for missing/broken weights."""

    def run(self, batch: Batch) -> list[Result | dict[str, Any]]:  # pragma: no cover - interface
        raise NotImplementedError

    def analyze(self, item: AnalysisInput) -> Result:  # pragma: no cover - batch analyzers run in batches
        raise TypeError(f"{self.name} is a batch analyzer; the engine calls run(batch)")
