"""The analyzer contract and the per-file input shared by all analyzers of one file."""

from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import dataclass
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

    def __init__(self, photo: Photo, settings: Settings, data: bytes | None = None):
        self.photo = photo
        self.settings = settings
        self._data = data
        self._pixels: DecodedImage | None = None
        self._pixel_error: Exception | None = None
        self.decode_seconds = 0.0      # wall time spent decoding (perf_counter)
        self.decode_cpu_seconds = 0.0  # CPU time of this thread spent decoding (thread_time)

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
        if self._pixel_error is not None:
            raise self._pixel_error
        if self._pixels is None:
            from ..core.decode import decode_for_analysis

            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                self._pixels = decode_for_analysis(self.photo, self.data, self.settings.analysis_size,
                                                   self.settings.max_pixels)
            except Exception as exc:
                self._pixel_error = exc
                raise
            finally:
                self.decode_seconds += time.perf_counter() - t0
                self.decode_cpu_seconds += time.thread_time() - c0
        return self._pixels


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


class Analyzer:
    """Subclass, set ``name``/``version``/``needs_pixels``, implement ``analyze``.

    Bump ``version`` whenever the output changes: on the next run only this analyzer is redone.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    needs_pixels: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def analyze(self, item: AnalysisInput) -> Result:  # pragma: no cover - interface
        raise NotImplementedError
