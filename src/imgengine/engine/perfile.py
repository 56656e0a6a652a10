"""The per-file stage: one task per file, run in an executor's worker; every per-file analyzer of the file
shares one read of its bytes and one decode of its pixels.

A plugin analyzer that raises, returns the wrong type or runs past its timeout costs only its own result
for that photo; the error record names the plugin, its version and its own source line.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analyzers.base import AnalysisInput, Analyzer, Result
from ..core.formats import CANDIDATE_EXTENSIONS, HEAD_BYTES, detect_format, extension_matches
from ..core.photo import Photo, display_path, escape_control
from ..errors import DecodeError, ImgEngineError, UnsupportedFormatError
from ..logs import error_record
from ..settings import Settings


@dataclass
class Task:
    path: Path
    size: int
    mtime_ns: int
    analyzers: tuple[str, ...]
    replace_results: bool = True
    # False when the plan's folder scan saw no XMP file in the photo's folder: no sidecar to look for
    may_have_sidecar: bool = True


@dataclass
class FileOutcome:
    path: Path
    size: int
    mtime_ns: int
    format: str | None = None
    extension_mismatch: bool = False
    sha256: str | None = None
    status: str = "ok"                 # ok | error | ignored
    error: str | None = None           # first error, one line
    replace_results: bool = True
    results: dict[str, tuple[str, dict | None, str | None]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)      # wall seconds per stage (perf_counter)
    cpu_timings: dict[str, float] = field(default_factory=dict)  # CPU seconds of the worker thread per stage
    pixels_source: str | None = None

    # A pool worker sends its outcome back pickled; the parent only stores the result data as JSON text.
    # So the worker encodes it (in parallel, where it was made) and the parent decodes it only if someone
    # reads ``results`` (an event listener): unpickling 5,000 forty-field dicts and encoding them again cost
    # the parent a third of a metadata-only run. ``result_rows`` gives the writers the text either way.
    def __getstate__(self) -> tuple:
        rows = tuple(self.result_rows())
        return (os.fspath(self.path), self.size, self.mtime_ns, self.format, self.extension_mismatch, self.sha256,
                self.status, self.error, self.replace_results, rows, self.errors, self.timings, self.cpu_timings,
                self.pixels_source)

    def __setstate__(self, state: tuple) -> None:
        (path, self.size, self.mtime_ns, self.format, self.extension_mismatch, self.sha256, self.status,
         self.error, self.replace_results, rows, self.errors, self.timings, self.cpu_timings,
         self.pixels_source) = state
        self.path = Path(path)
        self.results = EncodedResults(rows)

    def result_rows(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        """(analyzer, version, data as the catalog's JSON text or None, error) of every result."""
        if isinstance(self.results, EncodedResults):
            yield from self.results.rows()
            return
        for name, (version, data, error) in self.results.items():
            if data is None:
                yield name, version, None, error
                continue
            try:
                text = json.dumps(data, ensure_ascii=False)
            except (TypeError, ValueError) as exc:  # a plugin's result the catalog cannot store: its error
                yield name, version, None, f"result not storable as JSON ({type(exc).__name__}: {exc})"
                continue
            yield name, version, text, error


class EncodedResults(MutableMapping):
    """``FileOutcome.results`` as it arrives from a worker: {analyzer: (version, data, error)} whose data
    is kept as JSON text and decoded on first read."""

    __slots__ = ("_rows", "_decoded")

    def __init__(self, rows: Iterable[tuple[str, str, str | None, str | None]]):
        self._rows = {name: (version, text, error) for name, version, text, error in rows}
        self._decoded: dict[str, tuple[str, dict | None, str | None]] = {}

    def rows(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        for name, (version, text, error) in self._rows.items():
            yield name, version, text, error

    def __getitem__(self, name: str) -> tuple[str, dict | None, str | None]:
        value = self._decoded.get(name)
        if value is None:
            version, text, error = self._rows[name]
            value = self._decoded[name] = (version, None if text is None else json.loads(text), error)
        return value

    def __setitem__(self, name: str, value: tuple[str, dict | None, str | None]) -> None:
        version, data, error = value
        self._rows[name] = (version, None if data is None else json.dumps(data, ensure_ascii=False), error)
        self._decoded[name] = value

    def __delitem__(self, name: str) -> None:
        del self._rows[name]
        self._decoded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"EncodedResults({dict(self.items())!r})"


class AnalyzerTimeout(Exception):
    """An analyzer ran longer than its timeout on one photo."""


@dataclass(frozen=True)
class PluginOrigin:
    """Who provides an analyzer, for its error records: plugin name, version, and its source folder/file."""

    plugin: str
    version: str | None
    builtin: bool
    root: str | None = None


def _one_line(exc: BaseException, name: str | None = None) -> str:
    """The first line of an error, with the file's name (which may hold a newline) escaped first, so a
    reason is never cut inside the name."""
    text = str(exc)
    if name and name != escape_control(name):
        text = text.replace(name, escape_control(name))
    return text.splitlines()[0] if text else type(exc).__name__


def _raise_timeout(signum, frame):  # noqa: ARG001 - signal handler signature
    raise AnalyzerTimeout()


_HANDLER = {"installed": 0}   # how many stages have the timeout handler installed in this process


class _Deadline:
    """SIGALRM-based timeout around one analyzer call (main thread of a process only; elsewhere none).

    The executors install the handler once per process (:class:`timeout_handler`); then a call costs
    two ``setitimer`` system calls (about a microsecond each). Without it installed (a direct call of
    :func:`analyze_task`), the handler is set and restored around the call."""

    __slots__ = ("seconds", "_old")

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._old = None

    def __enter__(self):
        if self.seconds:
            if not _HANDLER["installed"]:
                self._old = signal.signal(signal.SIGALRM, _raise_timeout)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if self._old is not None:
                signal.signal(signal.SIGALRM, self._old)
        return False


class timeout_handler:
    """Context manager: the analyzer-timeout handler installed for a whole stage (restored after)."""

    def __enter__(self):
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGALRM, _raise_timeout)
            _HANDLER["installed"] += 1
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGALRM, self._old)
            _HANDLER["installed"] -= 1
        return False


def analyze_task(task: Task, settings: Settings, analyzers: dict[str, Analyzer], run_id: str,
                 origins: dict[str, PluginOrigin] | None = None,
                 timeouts: dict[str, float | None] | None = None) -> FileOutcome:
    out = FileOutcome(task.path, task.size, task.mtime_ns, replace_results=task.replace_results)
    raw_name = display_path(task.path)
    shown = escape_control(raw_name)  # for messages; the error record keeps the exact name
    origins = origins or {}
    timeouts = timeouts or {}

    def fail(stage: str, exc: BaseException, message: str | None = None) -> None:
        origin = origins.get(stage)
        if origin is not None:
            rec = error_record(run_id, raw_name, stage, exc, plugin=origin.plugin, plugin_version=origin.version,
                               plugin_root=origin.root)
        else:
            rec = error_record(run_id, raw_name, stage, exc)
        if message:
            rec.message = message
        out.errors.append(rec.to_dict())
        out.status = "error"
        if out.error is None or stage in ("read", "decode"):  # the root cause is the one to show
            out.error = f"[{stage}] {rec.message}"
        if stage == "read":  # nothing can run: mark every analyzer as attempted, so an unchanged
            for name in task.analyzers:  # bad file is not retried on every run (--force retries)
                out.results[name] = (analyzers[name].stored_version, None, rec.message)

    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        if task.size == 0:
            raise UnsupportedFormatError(f"{shown}: empty file (0 bytes)")
        with open(task.path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        fmt = detect_format(head, task.path.suffix)
        if fmt is None:
            if task.path.suffix.lower() not in CANDIDATE_EXTENSIONS:
                out.status = "ignored"
                return out
            what = "text" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:32]) else "unknown data"
            raise UnsupportedFormatError(
                f"{shown}: not an image: named {task.path.suffix} but its bytes are {what}")
        out.format = fmt
        out.extension_mismatch = not extension_matches(fmt, task.path.suffix)
        photo = Photo(task.path, task.size, task.mtime_ns, fmt, out.extension_mismatch)
    except FileNotFoundError as exc:
        fail("read", exc, f"{shown}: file vanished before it could be analysed")
        return out
    except PermissionError as exc:
        fail("read", exc, f"{shown}: permission denied")
        return out
    except ImgEngineError as exc:
        fail("read", exc, _one_line(exc, raw_name))
        return out
    except OSError as exc:
        fail("read", exc, f"{shown}: cannot read: {exc.strerror or exc}")
        return out

    decode_size = max((analyzers[n].pixel_size or 0 for n in task.analyzers), default=0)
    item = AnalysisInput(photo, settings, decode_size=decode_size)
    item.may_have_sidecar = task.may_have_sidecar
    try:
        if any(analyzers[n].needs_pixels for n in task.analyzers):
            _ = item.data  # read the bytes once, here, so a vanished/unreadable file fails in one place
    except OSError as exc:
        msg = "file vanished before it could be analysed" if isinstance(exc, FileNotFoundError) else \
            f"cannot read: {exc.strerror or exc}"
        fail("read", exc, f"{shown}: {msg}")
        return out
    out.timings["read"] = time.perf_counter() - t0
    out.cpu_timings["read"] = time.thread_time() - c0

    decode_failed = False
    if timeouts and threading.current_thread() is not threading.main_thread():
        timeouts = {}  # SIGALRM reaches only the main thread: no timeouts elsewhere
    for name in task.analyzers:
        analyzer = analyzers[name]
        version = analyzer.stored_version
        if analyzer.needs_pixels and decode_failed:
            out.results[name] = (version, None, "skipped: pixels could not be decoded")
            continue
        missing = [r for r in analyzer.requires if r not in item.results]
        if missing:
            out.results[name] = (version, None, f"skipped: no result from {', '.join(missing)}")
            continue
        t, c = time.perf_counter(), time.thread_time()
        decode_before, decode_cpu_before = item.decode_seconds, item.decode_cpu_seconds
        try:
            seconds = timeouts.get(name)
            if seconds:
                with _Deadline(seconds):
                    result = analyzer.analyze(item)
            else:
                result = analyzer.analyze(item)
            if isinstance(result, Result):
                data = result.to_dict()
            elif isinstance(result, dict):
                data = result
            else:
                raise TypeError(f"{name}.analyze returned {type(result).__name__}, not a Result or dict")
            out.results[name] = (version, data, None)
            item.results[name] = data
            if name == "hashes":
                out.sha256 = data.get("sha256")
        except (DecodeError, UnsupportedFormatError) as exc:
            decode_failed = True
            fail("decode", exc, _one_line(exc, raw_name))
            out.results[name] = (version, None, _one_line(exc, raw_name))
        except MemoryError as exc:
            decode_failed = True
            fail(name, exc, f"{shown}: out of memory in {name}")
            out.results[name] = (version, None, "out of memory")
        except AnalyzerTimeout as exc:
            text = f"timed out after {timeouts.get(name):g}s"
            fail(name, exc, f"{shown}: {name}: {text}")
            out.results[name] = (version, None, text)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one bad file (or plugin) never stops a run
            fail(name, exc, f"{shown}: {type(exc).__name__}: {_one_line(exc, raw_name)}")
            out.results[name] = (version, None, f"{type(exc).__name__}: {_one_line(exc, raw_name)}")
        spent = time.perf_counter() - t - (item.decode_seconds - decode_before)
        out.timings[name] = out.timings.get(name, 0.0) + spent
        spent_cpu = time.thread_time() - c - (item.decode_cpu_seconds - decode_cpu_before)
        out.cpu_timings[name] = out.cpu_timings.get(name, 0.0) + spent_cpu
    if item.decode_seconds:
        out.timings["decode"] = item.decode_seconds
        out.cpu_timings["decode"] = item.decode_cpu_seconds
    if item.decoded is not None:
        out.pixels_source = item.decoded.pixels_source
    return out


def analyzer_timeouts(settings: Settings, analyzers: dict[str, Analyzer]) -> dict[str, float | None]:
    """Seconds each analyzer may take per call: its section's ``timeout``, else ``analyzer_timeout``."""
    out = {}
    for name, a in analyzers.items():
        value = a.config.get("timeout", settings.analyzer_timeout)
        try:
            value = float(value) if value is not None else None
        except (TypeError, ValueError):
            value = settings.analyzer_timeout
        out[name] = value if value and value > 0 else None
    return out


def outcome_results(outcome: FileOutcome) -> dict[str, Any]:
    """{analyzer: result dict or None} of one outcome, for the ``photo_analyzed`` event."""
    return {name: data for name, (_v, data, _e) in outcome.results.items()}
