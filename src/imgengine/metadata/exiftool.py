"""ExifTool as a writer backend (HEIC/AVIF, which libexiv2 will not write) and as the reference reader the
tests and ``--verify`` compare with: one long-lived ``exiftool -stay_open True -@ -`` process per run.

Each command is sent as argument lines ending in ``-execute<N>``; ExifTool answers on stdout up to
``{ready<N>}`` and, through ``-echo4``, on stderr up to the same mark, so both streams are read to a known
end without threads. ``-q`` must not be used (it suppresses the ``{ready}`` line). A process that dies is
started again once; if it dies again the command fails with a clear message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..errors import MetadataError
from .fields import TagEdit, format_offset, leaf, offset_in, parse_exif_date, split_keywords


def exiftool_path() -> str | None:
    return shutil.which("exiftool")


class ExifTool:
    """A ``-stay_open`` ExifTool. Use as a context manager; ``run(args)`` -> (stdout, stderr)."""

    def __init__(self, executable: str | None = None):
        self.executable = executable or exiftool_path()
        if self.executable is None:
            raise MetadataError("ExifTool is not installed (Debian/Ubuntu: apt-get install libimage-exiftool-perl)")
        self._proc: subprocess.Popen | None = None
        self._n = 0
        self.restarts = 0
        self.broken: str | None = None
        self._lock = threading.Lock()        # one command at a time (producers may run in threads)

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [self.executable, "-stay_open", "True", "-@", "-", "-common_args", "-charset", "utf8",
             "-charset", "filename=utf8"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.write(b"-stay_open\nFalse\n")
            proc.stdin.flush()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def run(self, args: list[str]) -> tuple[str, str]:
        """One command. A process that died is started again once per run; if it dies again, this and
        every later command fail with one clear message (the files are left as they were)."""
        for bad in args:
            if "\n" in bad or "\r" in bad:
                raise MetadataError("a value with a line break cannot be passed to ExifTool")
        with self._lock:
            return self._run_locked(args)

    def _run_locked(self, args: list[str]) -> tuple[str, str]:
        while True:
            if self.broken:
                raise MetadataError(self.broken)
            if self._proc is None:
                self.start()
            elif self._proc.poll() is not None:
                self._restart(f"ExifTool exited (status {self._proc.returncode})")
                continue
            try:
                return self._run_once(args)
            except (BrokenPipeError, EOFError, OSError) as exc:
                self._restart(f"ExifTool stopped working ({exc})")

    def _restart(self, why: str) -> None:
        self.close()
        if self.restarts >= 1:
            self.broken = f"{why} again after a restart; not changed"
            raise MetadataError(self.broken)
        self.restarts += 1

    def _run_once(self, args: list[str]) -> tuple[str, str]:
        assert self._proc is not None
        self._n += 1
        mark = f"{{ready{self._n}}}"
        payload = "\n".join([*args, "-echo4", mark, f"-execute{self._n}", ""]).encode("utf-8")
        self._proc.stdin.write(payload)
        self._proc.stdin.flush()
        out = _read_until(self._proc.stdout, mark.encode())
        err = _read_until(self._proc.stderr, mark.encode())
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    # ---- conveniences
    def read_json(self, path: os.PathLike | str, *extra: str) -> dict[str, Any]:
        out, err = self.run(["-j", "-G1", "-a", "-struct", *extra, os.fsdecode(path)])
        try:
            return json.loads(out)[0]
        except (ValueError, IndexError) as exc:
            raise MetadataError(f"ExifTool could not read {os.fsdecode(path)}: {err.strip() or out.strip()}") from exc

    def validate(self, path: os.PathLike | str) -> list[str]:
        """The warnings of ``exiftool -validate -warning -a`` (empty when the file is clean). Read as text:
        ExifTool's JSON keeps only one of several warnings."""
        out, _err = self.run(["-validate", "-warning", "-a", "-s", os.fsdecode(path)])
        return [line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.split(":", 1)[0].strip() == "Warning"]

    def write_to(self, src: Path, dst: Path, edit: TagEdit, current: dict[str, Any] | None = None,
                 fmt: str = "heic", only: tuple[str, ...] = ("EXIF", "XMP", "IPTC")) -> None:
        """Write ``src`` with ``edit`` applied to the new file ``dst`` (which must not exist); ``only``: the
        metadata families to write (the rest of the edit is left out)."""
        if current is None and (edit.date is not None or edit.timezone is not None):
            current = self.read_json(src)            # which date mirrors exist, the date for --timezone
        args = edit_args(edit, current or {}, iptc=fmt in ("jpeg", "tiff"), only=only)
        self.write_args_to(src, dst, args)

    def write_args_to(self, src: Path, dst: Path, args: list[str]) -> None:
        """``exiftool ARGS -o dst src``: the new file ``dst`` (which must not exist)."""
        if not args:
            shutil.copyfile(src, dst)
            return
        out, err = self.run([*args, "-o", os.fsdecode(dst), os.fsdecode(src)])
        errors = [line for line in err.splitlines() if line.startswith("Error")]
        if errors or not os.path.exists(dst):
            text = (errors[0] if errors else err.strip() or out.strip() or "no output").removeprefix("Error: ")
            raise MetadataError(f"ExifTool could not write it: {text}")


def _read_until(stream: Any, mark: bytes) -> bytes:
    buf = bytearray()
    tail = mark + b"\n"
    while not (buf.endswith(tail) or buf.endswith(mark + b"\r\n")):
        chunk = stream.read1(65536) if hasattr(stream, "read1") else os.read(stream.fileno(), 65536)
        if not chunk:
            raise EOFError("ExifTool exited")
        buf += chunk
    return bytes(buf[: buf.rfind(mark)])


def _shift_text(delta: timedelta) -> tuple[str, str]:
    sign = "-=" if delta < timedelta(0) else "+="
    total = int(abs(delta).total_seconds())
    days, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return sign, f"0:0:{days} {h}:{m}:{s}"


def edit_args(edit: TagEdit, current: dict[str, Any], iptc: bool = False,
              only: tuple[str, ...] = ("EXIF", "XMP", "IPTC")) -> list[str]:
    """ExifTool arguments for ``edit``: EXIF + XMP, and the IPTC mirrors (UTF-8) where the format has
    IPTC (JPEG, TIFF; HEIF/AVIF hold none). ``current``: ExifTool's JSON of the file (-G1), for the date
    mirrors it has and --timezone by date."""
    a: list[str] = []
    flat, paths = split_keywords(edit.add_keywords)
    for k in edit.remove_keywords:
        a += [f"-XMP-dc:Subject-={leaf(k)}", f"-XMP-lr:HierarchicalSubject-={k}",
              f"-XMP-digiKam:TagsList-={k.replace('|', '/')}"]
        if iptc:
            a.append(f"-IPTC:Keywords-={leaf(k)}")
    for k in flat:
        a += [f"-XMP-dc:Subject-={k}", f"-XMP-dc:Subject+={k}"]
        if iptc:
            a += [f"-IPTC:Keywords-={k}", f"-IPTC:Keywords+={k}"]
    if iptc:
        mirrors = {"title": "IPTC:ObjectName", "description": "IPTC:Caption-Abstract", "artist": "IPTC:By-line",
                   "copyright": "IPTC:CopyrightNotice"}
        for name, tag in mirrors.items():
            value = getattr(edit, name)
            if value is not None:
                a.append(f"-{tag}={value}")
        if any(x.startswith("-IPTC:") for x in a):
            a.append("-IPTC:CodedCharacterSet=UTF8")
    for p in paths:
        a += [f"-XMP-lr:HierarchicalSubject-={p}", f"-XMP-lr:HierarchicalSubject+={p}",
              f"-XMP-digiKam:TagsList-={p.replace('|', '/')}", f"-XMP-digiKam:TagsList+={p.replace('|', '/')}"]
    if edit.title is not None:
        a.append(f"-XMP-dc:Title={edit.title}")
    if edit.description is not None:
        a += [f"-XMP-dc:Description={edit.description}", f"-EXIF:ImageDescription={edit.description}"]
    if edit.rating is not None:
        a.append(f"-XMP-xmp:Rating={edit.rating}")
    if edit.label is not None:
        a.append(f"-XMP-xmp:Label={edit.label}")
    if edit.regions is not None:
        a.append(f"-XMP-mwg-rs:RegionInfo={_region_struct(edit)}" if edit.regions.items else "-XMP-mwg-rs:RegionInfo=")
    if edit.artist is not None:
        a += [f"-EXIF:Artist={edit.artist}", f"-XMP-dc:Creator={edit.artist}"]
    if edit.copyright is not None:
        a += [f"-EXIF:Copyright={edit.copyright}", f"-XMP-dc:Rights={edit.copyright}"]
    if edit.gps is not None:
        g = edit.gps
        a += [f"-EXIF:GPSLatitude={abs(g.lat):.8f}", f"-EXIF:GPSLatitudeRef={'N' if g.lat >= 0 else 'S'}",
              f"-EXIF:GPSLongitude={abs(g.lon):.8f}", f"-EXIF:GPSLongitudeRef={'E' if g.lon >= 0 else 'W'}"]
        if g.alt is not None:
            a += [f"-EXIF:GPSAltitude={abs(g.alt):.2f}", f"-EXIF:GPSAltitudeRef#={1 if g.alt < 0 else 0}"]
    if edit.date is not None:
        a.append(f"-EXIF:DateTimeOriginal={edit.date.exif}")
        if edit.date.exif_offset is not None:
            a.append(f"-EXIF:OffsetTimeOriginal={edit.date.exif_offset}")
        for tag in ("XMP-photoshop:DateCreated", "XMP-exif:DateTimeOriginal"):
            if tag in current:                      # keep the mirrors a reader might prefer in sync
                a.append(f"-{tag}={edit.date.xmp}")
        if iptc and "IPTC:DateCreated" in current:
            a += [f"-IPTC:DateCreated={edit.date.local:%Y:%m:%d}",
                  f"-IPTC:TimeCreated={edit.date.local:%H:%M:%S}{edit.date.exif_offset or '+00:00'}"]
    if edit.shift:
        sign, text = _shift_text(edit.shift)
        for tag in ("EXIF:DateTimeOriginal", "EXIF:CreateDate", "EXIF:ModifyDate", "XMP-photoshop:DateCreated",
                    "XMP-exif:DateTimeOriginal", "XMP-xmp:CreateDate", "XMP-xmp:ModifyDate"):
            a.append(f"-{tag}{sign}{text}")
    if edit.timezone is not None:
        base = parse_exif_date(str(current.get("ExifIFD:DateTimeOriginal") or ""))
        if base is not None:
            off = format_offset(offset_in(edit.timezone, base + (edit.shift or timedelta(0))))
            a += [f"-EXIF:OffsetTimeOriginal={off}", f"-EXIF:OffsetTimeDigitized={off}", f"-EXIF:OffsetTime={off}"]
    if any(x.startswith("-EXIF:OffsetTime") for x in a):
        version = str(current.get("ExifIFD:ExifVersion") or "")
        if len(version) == 4 and version.isdigit() and version < "0231":
            a.append("-EXIF:ExifVersion=0232")      # OffsetTime* exist since EXIF 2.31
    families = {"EXIF": ("-EXIF:",), "XMP": ("-XMP-",), "IPTC": ("-IPTC:",)}
    prefixes = tuple(p for fam in only for p in families[fam])
    return [x for x in a if x.startswith(prefixes)]


def _region_struct(edit: TagEdit) -> str:
    """MWG regions in ExifTool's structure syntax (``|`` escapes its special characters in values)."""
    def esc(text: str) -> str:
        return "".join("|" + c if c in "|,=[]{}" else c for c in text)

    r = edit.regions
    assert r is not None
    items = []
    for reg in r.items:
        fields = [f"Area={{X={reg.x:.6f},Y={reg.y:.6f},W={reg.w:.6f},H={reg.h:.6f},Unit=normalized}}",
                  f"Type={esc(reg.kind)}"] + ([f"Name={esc(reg.name)}"] if reg.name else [])
        items.append("{" + ",".join(fields) + "}")
    return f"{{AppliedToDimensions={{W={r.width},H={r.height},Unit=pixel}},RegionList=[{','.join(items)}]}}"
