"""Writer backend on libexiv2 (the python-exiv2 binding; what digiKam builds on): JPEG, PNG, WebP, TIFF and
XMP sidecars, in memory. JPEG is rewritten losslessly: exiv2 replaces only the APP segments and copies the
entropy-coded data byte for byte (the tests check it).

exiv2 is GPL-3.0-or-later; imgengine (MIT) uses it as a library, see README.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ..errors import MetadataError
from .fields import (
    FIELDS,
    SHIFTED_DATES,
    SHIFTED_XMP_DATES,
    CaptureDate,
    Gps,
    Regions,
    TagEdit,
    format_offset,
    leaf,
    offset_in,
    parse_exif_date,
    parse_xmp_date,
    split_keywords,
)
from .jpeg import fix_xmp_namespaces, keep_exif_segment, refresh_iptc_digest, without_exif

_init_lock = threading.Lock()
TEXT_FIELDS = ("title", "description", "rating", "label", "artist", "copyright")
LANG_ALT = frozenset({"Xmp.dc.title", "Xmp.dc.description", "Xmp.dc.rights"})
XMP_SEQ = frozenset({"Xmp.dc.creator"})
EXIF_ONLY_IF_PRESENT = frozenset({"Exif.Image.Rating"})    # Windows' non-standard tag: only kept in sync
_ready = False
IPTC_UTF8 = "\x1b%G"
# which blocks each format can hold (exiv2 writes IPTC into PNG only as a non-standard text chunk: skipped)
CONTAINERS = {"jpeg": {"exif", "iptc", "xmp"}, "tiff": {"exif", "iptc", "xmp"}, "png": {"exif", "xmp"},
              "webp": {"exif", "xmp"}, "xmp": {"xmp"}}


def _exiv2():
    global _ready
    import exiv2

    if not _ready:
        with _init_lock:
            if not _ready:
                exiv2.XmpParser.initialize()
                _ready = True
    return exiv2


class _Collect(logging.Handler):
    """Routes each thread's libexiv2 warnings to the innermost ``exiv2_warnings`` block of that thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        stack = getattr(self.local, "stack", None)
        if stack:
            stack[-1].append(record.getMessage())


_collect = _Collect()
_collect_lock = threading.Lock()
_collect_users = 0
_collect_saved: tuple[bool, Any] = (True, None)


@contextlib.contextmanager
def exiv2_warnings() -> Iterator[list[str]]:
    """libexiv2's errors during a call, collected instead of printed on the terminal (python-exiv2 sends
    them to the ``exiv2`` logger). Its warnings ("unexpected next pointer; ignored" and the like, which
    nobody reads here) are not even formatted: libexiv2's log level is raised to errors for the block,
    which saves a Python logging call per warning. Logger and level are left as they were once the last
    block (of any thread: the journal runs producers in threads) ends."""
    global _collect_users, _collect_saved
    logger = logging.getLogger("exiv2")
    with _collect_lock:
        if _collect_users == 0:
            log = _exiv2().LogMsg
            _collect_saved = (logger.propagate, log.level())
            log.setLevel(log.Level.error)
            logger.addHandler(_collect)
            logger.propagate = False
        _collect_users += 1
    stack = getattr(_collect.local, "stack", None)
    if stack is None:
        stack = _collect.local.stack = []
    messages: list[str] = []
    stack.append(messages)
    try:
        yield messages
    finally:
        stack.pop()
        with _collect_lock:
            _collect_users -= 1
            if _collect_users == 0:
                logger.removeHandler(_collect)
                logger.propagate, level = _collect_saved
                _exiv2().LogMsg.setLevel(level)


def rewrite(data: bytes, edit: TagEdit, fmt: str, lock_exif: bool = False, repair: bool = False,
            seed_date: str | None = None) -> bytes:
    """The file's bytes with ``edit`` applied; the same bytes object when nothing would change.
    ``lock_exif``: leave the EXIF block exactly as it is (ExifTool wrote that part already).
    ``repair``: a JPEG whose EXIF cannot be read at all gets a new, clean EXIF block instead of a refusal
    (what was unreadable is lost; the journal keeps the original for undo).
    ``seed_date`` (sidecars): the photo's capture time, written first when the sidecar has none, so that
    ``--shift-time`` has a time to shift (a RAW's own EXIF is never written)."""
    with exiv2_warnings():
        try:
            return _rewrite(data, edit, fmt, lock_exif, seed_date)
        except MetadataError as exc:
            if not (repair and fmt == "jpeg" and "cannot be read" in str(exc)):
                raise
            stripped = without_exif(data)
            if stripped == data:
                raise
            return _rewrite(stripped, edit, fmt, lock_exif)


def _rewrite(data: bytes, edit: TagEdit, fmt: str, lock_exif: bool = False, seed_date: str | None = None) -> bytes:
    exiv2 = _exiv2()
    try:
        img = exiv2.ImageFactory.open(data)
        img.readMetadata()
    except exiv2.Exiv2Error as exc:
        hint = " (--repair rebuilds it)" if fmt == "jpeg" else ""
        raise MetadataError(f"metadata cannot be read ({_why(exc)}); not changed{hint}") from exc
    with_exif = edit.touches_exif() and not lock_exif
    before = snapshot(img, with_exif)
    try:
        if seed_date and fmt == "xmp":
            _seed_date(_Blocks(img, fmt), seed_date)
        apply_edit(img, edit, fmt, lock_exif)
    except (ValueError, TypeError, exiv2.Exiv2Error) as exc:
        raise MetadataError(f"cannot set the values ({_why(exc)}); not changed") from exc
    if snapshot(img, with_exif) == before:
        return data
    try:
        if fmt == "xmp":
            # libexiv2 converts a sidecar's exif: properties to EXIF when reading and back when writing, and
            # then puts back any date whose day did not change ("#1112"): a shifted exif:DateTimeOriginal
            # would come back unshifted. The packet is encoded here and written as it is.
            flag = exiv2.XmpParser.XmpFormatFlags
            flags = flag.useCompactFormat | flag.omitPacketWrapper        # libexiv2 adds the wrapper
            encoded = exiv2.XmpParser.encode(img.xmpData(), flags)
            img.setXmpPacket(encoded[-1] if isinstance(encoded, (list, tuple)) else encoded)
            img.writeXmpFromPacket(True)
        img.writeMetadata()
    except exiv2.Exiv2Error as exc:
        raise MetadataError(f"cannot write the metadata ({_why(exc)}); not changed") from exc
    out = bytes(img.io().data())
    if fmt == "jpeg":
        out = refresh_iptc_digest(keep_exif_segment(out, data) if lock_exif else out)
        out = fix_xmp_namespaces(out)
    elif fmt == "xmp":
        out = fix_xmp_namespaces(out, whole_file_is_xmp=True)
    return out


def new_sidecar(edit: TagEdit, seed: bytes | None = None, seed_keywords: tuple[str, ...] = (),
                seed_date: str | None = None) -> bytes:
    """A new XMP sidecar holding ``edit`` (on top of the photo's embedded XMP when ``seed`` is given,
    so that a sidecar never hides values that were only embedded; ``seed_date``: see ``rewrite``)."""
    with exiv2_warnings():
        return _new_sidecar(edit, seed, seed_keywords, seed_date)


def _seed_date(b: _Blocks, date: str) -> None:
    """A sidecar without a capture time gets the photo's (ISO 8601), in both places readers look."""
    if b.xmp_get("Xmp.exif.DateTimeOriginal") is None and b.xmp_get("Xmp.photoshop.DateCreated") is None:
        b.xmp_text("Xmp.exif.DateTimeOriginal", date)
        b.xmp_text("Xmp.photoshop.DateCreated", date)


def _new_sidecar(edit: TagEdit, seed: bytes | None, seed_keywords: tuple[str, ...],
                 seed_date: str | None = None) -> bytes:
    exiv2 = _exiv2()
    img = exiv2.ImageFactory.create(exiv2.ImageType.xmp)
    if seed:
        try:                                   # the packet parsed as an XMP file (the binding has no decode)
            parsed = exiv2.ImageFactory.open(bytes(seed))
            parsed.readMetadata()
            img.setXmpData(parsed.xmpData())
        except exiv2.Exiv2Error:
            pass
    if seed_keywords and img.xmpData().findKey(exiv2.XmpKey("Xmp.dc.subject")) == img.xmpData().end():
        _Blocks(img, "xmp").xmp_array("Xmp.dc.subject", list(seed_keywords))   # IPTC-only keywords
    if seed_date:
        _seed_date(_Blocks(img, "xmp"), seed_date)
    apply_edit(img, edit, "xmp")
    try:
        img.writeMetadata()
    except exiv2.Exiv2Error as exc:
        raise MetadataError(f"cannot write the sidecar ({_why(exc)})") from exc
    return fix_xmp_namespaces(bytes(img.io().data()), whole_file_is_xmp=True)


def has_maker_note(data: bytes) -> bool:
    """Whether the file's EXIF holds a maker note. libexiv2 re-serialises maker notes when it has to
    rebuild the EXIF block, and for some makes (Canon, Nikon, Sanyo, Minolta) that moves data ExifTool then
    reports as broken; such files get their EXIF changes through ExifTool when it is installed."""
    exiv2 = _exiv2()
    img = _read_image(data)
    if img is None:
        return False
    with exiv2_warnings():
        exif = img.exifData()
        return exif.findKey(exiv2.ExifKey("Exif.Photo.MakerNote")) != exif.end() or \
            any(d.groupName() not in ("Image", "Photo", "GPSInfo", "Iop", "Thumbnail", "Image2", "Image3")
                for d in exif)


def _why(exc: BaseException) -> str:
    args = [a for a in exc.args if isinstance(a, str) and a.strip()]
    text = args[-1] if args else (str(exc).strip() or type(exc).__name__)
    return text.strip().splitlines()[0][:200]


def snapshot(img: Any, with_exif: bool = True) -> tuple:
    """Every value, to tell whether an edit changed anything (EXIF only when the edit can touch it)."""
    out = []
    for data in ((img.exifData(),) if with_exif else ()) + (img.iptcData(), img.xmpData()):
        out.append(tuple(sorted((d.key(), _text(d)) for d in data)))
    return tuple(out)


def _text(datum: Any) -> str:
    try:
        return datum.toString()
    except (UnicodeDecodeError, ValueError):
        value = datum.value()
        raw = bytes(value.data()) if hasattr(value, "data") else b""
        return raw.decode("cp1252", "replace")


# ---------------------------------------------------------------------------------------------- helpers
class _Blocks:
    """The three metadata blocks of one image, with the writes ``apply_edit`` needs."""

    def __init__(self, img: Any, fmt: str):
        containers, sidecar = CONTAINERS[fmt], fmt == "xmp"
        self.x = _exiv2()
        self.img = img
        self.exif = img.exifData()
        self.iptc = img.iptcData()
        self.xmp = img.xmpData()
        self.has = containers
        self.sidecar = sidecar
        self._had_groups: set[str] | None = None
        self.fmt = fmt
        self.jpeg = fmt == "jpeg"
        self.gps_written = False

    def _has_group(self, group: str) -> bool:
        return any(d.groupName() == group for d in self.exif)

    def note_groups(self) -> None:
        """Remember which EXIF IFDs exist before an edit that touches EXIF (see ``required_tags``)."""
        if self._had_groups is None:
            self._had_groups = {d.groupName() for d in self.exif}

    # exif
    def exif_get(self, key: str) -> str | None:
        d = _find(self.exif, self.x.ExifKey(key))
        return None if d is None else d.toString()

    def exif_set(self, key: str, value: str | None) -> None:
        if value is None:
            self.exif_del(key)
        else:
            self.exif[key] = value

    def exif_del(self, key: str) -> None:
        _erase_all(self.exif, self.x.ExifKey(key))

    # iptc
    def iptc_all(self, key: str) -> list[str]:
        return [_text(d) for d in self.iptc if d.key() == key]

    def iptc_set(self, key: str, values: list[str]) -> None:
        self.iptc_del(key)
        for v in values:
            d = self.x.Iptcdatum(self.x.IptcKey(key))
            d.setValue(v)
            self.iptc.add(d)
        self._utf8()

    def iptc_del(self, key: str) -> None:
        _erase_all(self.iptc, self.x.IptcKey(key))

    def _utf8(self) -> None:
        """Mark IPTC as UTF-8; text written before in another character set (no marker: Latin-1/cp1252 by
        convention) is converted first, so that the marker does not garble it."""
        marker = _find(self.iptc, self.x.IptcKey("Iptc.Envelope.CharacterSet"))
        if marker is not None and marker.toString() == IPTC_UTF8:
            return
        for d in self.iptc:
            if d.typeId() != self.x.TypeId.string or not d.key().startswith("Iptc.Application2."):
                continue
            raw = bytes(d.value().data())
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                d.setValue(raw.decode("cp1252", "replace").replace("\ufffd", "?"))
        self.iptc["Iptc.Envelope.CharacterSet"] = IPTC_UTF8

    # xmp
    def xmp_list(self, key: str) -> list[str]:
        d = _find(self.xmp, self.x.XmpKey(key))
        return [] if d is None else [d.toString(i) for i in range(d.count())]

    def xmp_array(self, key: str, values: list[str], kind: str = "bag") -> None:
        self.xmp_del(key)
        if not values:
            return
        type_id = {"bag": self.x.TypeId.xmpBag, "seq": self.x.TypeId.xmpSeq}[kind]
        v = self.x.XmpArrayValue(type_id)
        for item in values:
            v.read(item)
        self.xmp[key] = v

    def xmp_text(self, key: str, value: str | None) -> None:
        if value is None:
            self.xmp_del(key)
        else:
            v = self.x.XmpTextValue()
            v.read(value)
            self.xmp[key] = v

    def xmp_get(self, key: str) -> str | None:
        d = _find(self.xmp, self.x.XmpKey(key))
        return None if d is None else d.toString()

    def xmp_lang(self, key: str, value: str | None) -> None:
        self.xmp_del(key)
        if value:
            v = self.x.LangAltValue()
            v.read(f'lang="x-default" {value}')
            self.xmp[key] = v

    def xmp_del(self, key: str) -> None:
        _erase_all(self.xmp, self.x.XmpKey(key))

    def offsets_written(self) -> None:
        """OffsetTime* exist since EXIF 2.31: raise an older ExifVersion so that the file stays valid."""
        version = self.exif_get("Exif.Photo.ExifVersion")
        if version is None:
            return
        code = version.strip()
        if not (len(code) == 4 and code.isdigit()):      # UNDEFINED bytes as exiv2 prints them: "48 50 50 48"
            try:
                code = bytes(int(x) for x in version.split()).decode("ascii")
            except (ValueError, UnicodeDecodeError):
                return                                     # an odd value we do not understand: left as it is
        if len(code) == 4 and code.isdigit() and code < "0231":
            self.exif_del("Exif.Photo.ExifVersion")         # also drops a wrong type some writers used
            value = self.x.Value.create(self.x.TypeId.undefined)
            value.read("48 50 51 50")
            self.exif["Exif.Photo.ExifVersion"] = value

    def required_tags(self) -> None:
        """Tags the EXIF standard requires in an IFD we created (ExifTool's -validate checks them)."""
        if self.sidecar or "exif" not in self.has:
            return
        if self._had_groups is None:
            return                                   # the edit did not touch EXIF
        groups = {d.groupName() for d in self.exif}
        now = {g: g in groups for g in ("Image", "Photo", "GPSInfo")}
        had = {g: g in self._had_groups for g in ("Image", "Photo", "GPSInfo")}
        if now["Photo"] and not had["Photo"]:
            defaults = {"Exif.Photo.ExifVersion": "48 50 51 50", "Exif.Photo.FlashpixVersion": "48 49 48 48",
                        "Exif.Photo.ColorSpace": "1"}
            if self.jpeg:
                defaults["Exif.Photo.ComponentsConfiguration"] = "1 2 3 0"
            w, h = self.img.pixelWidth(), self.img.pixelHeight()
            if w and h and self.jpeg:                 # not allowed in TIFF (IFD0 holds the size there)
                defaults["Exif.Photo.PixelXDimension"] = str(w)
                defaults["Exif.Photo.PixelYDimension"] = str(h)
            for k, v in defaults.items():
                if self.exif_get(k) is None:
                    self.exif[k] = v
        if self.jpeg and (now["Photo"] or now["GPSInfo"] or now["Image"]) and not had["Image"]:
            for k, v in {"Exif.Image.XResolution": "72/1", "Exif.Image.YResolution": "72/1",
                         "Exif.Image.ResolutionUnit": "2", "Exif.Image.YCbCrPositioning": "1"}.items():
                if self.exif_get(k) is None:
                    self.exif[k] = v
        if self.gps_written and self.exif_get("Exif.GPSInfo.GPSVersionID") is None:
            self.exif["Exif.GPSInfo.GPSVersionID"] = "2 3 0 0"
        if self.gps_written and self.fmt == "tiff" and self.exif_get("Exif.GPSInfo.GPSProcessingMethod") is None:
            self.exif["Exif.GPSInfo.GPSProcessingMethod"] = "charset=Ascii MANUAL"   # TIFF/EP requires it


def _find(data: Any, key: Any) -> Any:
    """The datum of ``key`` in an ExifData/IptcData/XmpData, or None (the binding's iterator compare)."""
    it = data.findKey(key)
    return None if it == data.end() else it


def _erase_all(data: Any, key: Any) -> None:
    """Every datum of ``key`` (IPTC and XMP may repeat one)."""
    while (it := data.findKey(key)) != data.end():
        data.erase(it)


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for k in items:
        if k not in seen:
            seen.add(k)
            out.append(k)
    return out


# ---------------------------------------------------------------------------------------------- the edit
def apply_edit(img: Any, edit: TagEdit, fmt: str, lock_exif: bool = False) -> None:
    """Apply ``edit`` to an opened exiv2 image of format ``fmt`` (``xmp``: a sidecar)."""
    b = _Blocks(img, fmt)
    if edit.touches_exif():
        b.note_groups()
    if lock_exif:
        copy = b.x.ExifData()               # EXIF writes go to a copy that is never written back
        for d in b.exif:
            copy.add(d)
        b.exif = copy
    exif, iptc = "exif" in b.has and not b.sidecar, "iptc" in b.has
    if edit.add_keywords or edit.remove_keywords:
        _keywords(b, edit, iptc)
    for name in TEXT_FIELDS:                 # every place the field table names for it
        value = getattr(edit, name)
        if value is None:
            continue
        text = str(value)
        place = FIELDS[name]
        for key in place.xmp:
            if key in LANG_ALT:
                b.xmp_lang(key, text or None)
            elif key in XMP_SEQ:
                b.xmp_array(key, [text] if text else [], "seq")
            else:
                b.xmp_text(key, text or None)
        for key in place.exif if exif else ():
            if key in EXIF_ONLY_IF_PRESENT and b.exif_get(key) is None:
                continue
            b.exif_set(key, (str(max(int(value), 0)) if name == "rating" else text) or None)
        for key in place.iptc if iptc else ():
            b.iptc_set(key, [text] if text else [])
    if edit.gps is not None:
        _gps(b, edit.gps, exif)
    if edit.date is not None:
        _set_date(b, edit.date, exif, iptc)
    if edit.shift or edit.timezone is not None:
        _shift(b, edit, exif, iptc)
    if edit.regions is not None:
        _regions(b, edit.regions)
    b.required_tags()


def _keywords(b: _Blocks, edit: TagEdit, iptc: bool) -> None:
    add_flat, add_paths = split_keywords(edit.add_keywords)
    remove = set(edit.remove_keywords)
    remove_leaves = {leaf(k) for k in remove}

    def keep_path(p: str) -> bool:
        return p not in remove and leaf(p) not in remove_leaves

    if iptc:
        b._utf8()                      # before reading: IPTC text in an older character set is converted
    subject = b.xmp_list("Xmp.dc.subject")
    if not subject and iptc:
        subject = b.iptc_all("Iptc.Application2.Keywords")      # IPTC-only files: carry them over to XMP
    subject = _dedupe([k for k in subject if k not in remove_leaves] + add_flat)
    b.xmp_array("Xmp.dc.subject", subject)
    hier = b.xmp_list("Xmp.lr.hierarchicalSubject")
    tags = [t.replace("/", "|") for t in b.xmp_list("Xmp.digiKam.TagsList")]
    if hier or tags or add_paths:
        paths = _dedupe([p for p in hier + tags if keep_path(p)] + add_paths)
        b.xmp_array("Xmp.lr.hierarchicalSubject", paths)
        b.xmp_array("Xmp.digiKam.TagsList", [p.replace("|", "/") for p in paths], "seq")
    if iptc:
        b.iptc_set("Iptc.Application2.Keywords", subject)


def _dms(value: float) -> str:
    value = abs(value)
    deg = int(value)
    minutes_f = (value - deg) * 60
    minutes = int(minutes_f)
    sec = round((minutes_f - minutes) * 60 * 10000)
    if sec >= 600000:
        sec -= 600000
        minutes += 1
    if minutes >= 60:
        minutes -= 60
        deg += 1
    return f"{deg}/1 {minutes}/1 {sec}/10000"


def _xmp_coord(value: float, pos: str, neg: str) -> str:
    v = abs(value)
    deg = int(v)
    return f"{deg},{(v - deg) * 60:.8f}{pos if value >= 0 else neg}"


def _gps(b: _Blocks, gps: Gps, exif: bool) -> None:
    if exif:
        b.gps_written = True
        b.exif["Exif.GPSInfo.GPSLatitudeRef"] = "N" if gps.lat >= 0 else "S"
        b.exif["Exif.GPSInfo.GPSLatitude"] = _dms(gps.lat)
        b.exif["Exif.GPSInfo.GPSLongitudeRef"] = "E" if gps.lon >= 0 else "W"
        b.exif["Exif.GPSInfo.GPSLongitude"] = _dms(gps.lon)
        if gps.alt is not None:
            b.exif["Exif.GPSInfo.GPSAltitudeRef"] = "1" if gps.alt < 0 else "0"
            b.exif["Exif.GPSInfo.GPSAltitude"] = f"{round(abs(gps.alt) * 100)}/100"
    if b.sidecar or not exif or b.xmp_get("Xmp.exif.GPSLatitude") is not None:
        b.xmp_text("Xmp.exif.GPSLatitude", _xmp_coord(gps.lat, "N", "S"))
        b.xmp_text("Xmp.exif.GPSLongitude", _xmp_coord(gps.lon, "E", "W"))
        if gps.alt is not None:
            b.xmp_text("Xmp.exif.GPSAltitudeRef", "1" if gps.alt < 0 else "0")
            b.xmp_text("Xmp.exif.GPSAltitude", f"{round(abs(gps.alt) * 100)}/100")
        b.xmp_text("Xmp.exif.GPSVersionID", "2.3.0.0")


def _regions(b: _Blocks, regions: Regions) -> None:
    """``mwg-rs:Regions`` (the Metadata Working Group's face regions, which digiKam, Lightroom, Picasa and
    ExifTool's MWG module read), replacing any the file had."""
    root = "Xmp.mwg-rs.Regions"
    # the struct's fields are separate keys below the root; keys first (erasing invalidates the iterator)
    for key in [k for k in (d.key() for d in b.xmp) if k == root or k.startswith(root + "/")]:
        b.xmp_del(key)
    if not regions.items:
        return
    dims = f"{root}/mwg-rs:AppliedToDimensions"
    b.xmp[f"{dims}/stDim:w"] = str(regions.width)
    b.xmp[f"{dims}/stDim:h"] = str(regions.height)
    b.xmp[f"{dims}/stDim:unit"] = "pixel"
    bag = b.x.XmpTextValue()
    bag.setXmpArrayType(b.x.XmpValue.XmpArrayType.xaBag)
    b.xmp.add(b.x.XmpKey(f"{root}/mwg-rs:RegionList"), bag)
    for i, r in enumerate(regions.items, 1):
        item = f"{root}/mwg-rs:RegionList[{i}]"
        for axis, value in (("x", r.x), ("y", r.y), ("w", r.w), ("h", r.h)):
            b.xmp[f"{item}/mwg-rs:Area/stArea:{axis}"] = f"{value:.6f}".rstrip("0").rstrip(".") or "0"
        b.xmp[f"{item}/mwg-rs:Area/stArea:unit"] = "normalized"
        b.xmp[f"{item}/mwg-rs:Type"] = r.kind
        if r.name:
            b.xmp_text(f"{item}/mwg-rs:Name", r.name)


def _set_date(b: _Blocks, date: CaptureDate, exif: bool, iptc: bool) -> None:
    if exif:
        b.exif["Exif.Photo.DateTimeOriginal"] = date.exif
        if date.exif_offset is not None:
            b.exif["Exif.Photo.OffsetTimeOriginal"] = date.exif_offset
            b.offsets_written()
    subsec = b.exif_get("Exif.Photo.SubSecTimeOriginal") if exif else None
    xmp_value = date.xmp
    if subsec and subsec.strip().isdigit():
        head, off = date.local.strftime("%Y-%m-%dT%H:%M:%S"), date.exif_offset or ""
        xmp_value = f"{head}.{subsec.strip()}{off}"
    for key in ("Xmp.photoshop.DateCreated", "Xmp.exif.DateTimeOriginal"):
        if b.sidecar or not exif or b.xmp_get(key) is not None:
            b.xmp_text(key, xmp_value)
    if iptc and b.iptc_all("Iptc.Application2.DateCreated"):
        b.iptc_set("Iptc.Application2.DateCreated", [date.local.strftime("%Y-%m-%d")])
        b.iptc_set("Iptc.Application2.TimeCreated",
                   [date.local.strftime("%H:%M:%S") + (date.exif_offset or "+00:00")])


def _shift(b: _Blocks, edit: TagEdit, exif: bool, iptc: bool) -> None:
    shift = edit.shift or timedelta(0)
    if exif:
        for key, off_key in SHIFTED_DATES:
            dt = parse_exif_date(b.exif_get(key))
            if dt is None:
                continue
            dt += shift
            b.exif[key] = dt.strftime("%Y:%m:%d %H:%M:%S")
            if edit.timezone is not None:
                b.exif[off_key] = format_offset(offset_in(edit.timezone, dt))
                b.offsets_written()
    for key in SHIFTED_XMP_DATES:
        parsed = parse_xmp_date(b.xmp_get(key))
        if parsed is None:
            continue
        dt, rest = parsed
        dt += shift
        if edit.timezone is not None:
            frac = rest.split("+")[0].split("-")[0].rstrip("Z") if rest.startswith(".") else ""
            rest = frac + format_offset(offset_in(edit.timezone, dt))
        b.xmp_text(key, dt.strftime("%Y-%m-%dT%H:%M:%S") + rest)
    if iptc:
        dates, times = b.iptc_all("Iptc.Application2.DateCreated"), b.iptc_all("Iptc.Application2.TimeCreated")
        if dates:
            dt = parse_xmp_date(f"{dates[0]}T{(times[0] if times else '00:00:00')[:8]}")
            if dt is not None:
                new = dt[0] + shift
                b.iptc_set("Iptc.Application2.DateCreated", [new.strftime("%Y-%m-%d")])
                if times:
                    off = times[0][8:] or "+00:00"
                    if edit.timezone is not None:
                        off = format_offset(offset_in(edit.timezone, new))
                    b.iptc_set("Iptc.Application2.TimeCreated", [new.strftime("%H:%M:%S") + off])




# ------------------------------------------------------------------------------------------- conversion
_THUMBNAIL_GROUPS = ("Thumbnail", "Image2", "Image3", "SubImage1", "SubThumb1")
_SIZE_TAGS = ("Exif.Image.ImageWidth", "Exif.Image.ImageLength", "Exif.Image.StripOffsets",
              "Exif.Image.StripByteCounts", "Exif.Image.RowsPerStrip", "Exif.Image.BitsPerSample",
              "Exif.Image.Compression", "Exif.Image.PhotometricInterpretation", "Exif.Image.SamplesPerPixel",
              "Exif.Image.PlanarConfiguration", "Exif.Image.TileWidth", "Exif.Image.TileLength",
              "Exif.Image.TileOffsets", "Exif.Image.TileByteCounts", "Exif.Image.NewSubfileType",
              "Exif.Image.SubIFDs", "Exif.Image.JPEGInterchangeFormat", "Exif.Image.JPEGInterchangeFormatLength")


def source_metadata(path: str) -> tuple[Any, Any, Any] | None:
    """(exif, iptc, xmp) data of a file, or None when libexiv2 cannot read it."""
    img = _read_image(path)
    return None if img is None else (img.exifData(), img.iptcData(), img.xmpData())


def _read_image(source: bytes | str) -> Any:
    """An exiv2 image (bytes or a path) with its metadata read, or None when libexiv2 cannot read it."""
    exiv2 = _exiv2()
    with exiv2_warnings():
        try:
            img = exiv2.ImageFactory.open(source)
            img.readMetadata()
        except exiv2.Exiv2Error:
            return None
    return img


def _prepare_exif(exif: Any, width: int, height: int, fmt: str = "", orientation: bool = True) -> Any:
    """EXIF for converted pixels: orientation 1 (the pixels are upright now), the new size, no thumbnail
    (it would show the old picture) and no container tags of the old file."""
    exiv2 = _exiv2()
    out = exiv2.ExifData()
    for d in exif:
        if d.groupName() in _THUMBNAIL_GROUPS or d.key() in _SIZE_TAGS:
            continue
        out.add(d)
    if orientation:
        out["Exif.Image.Orientation"] = "1"
    else:                                # AVIF: the container's own transform says it (Pillow drops the tag)
        it = out.findKey(exiv2.ExifKey("Exif.Image.Orientation"))
        if it != out.end():
            out.erase(it)
    if fmt == "jpeg":                    # tags the JPEG flavour of EXIF requires (a HEIC source may lack them)
        groups = {d.groupName() for d in out}
        if "GPSInfo" in groups and out.findKey(exiv2.ExifKey("Exif.GPSInfo.GPSVersionID")) == out.end():
            out["Exif.GPSInfo.GPSVersionID"] = "2 3 0 0"
        required = {"Exif.Image.XResolution": "72/1", "Exif.Image.YResolution": "72/1",
                    "Exif.Image.ResolutionUnit": "2", "Exif.Image.YCbCrPositioning": "1"}
        if "Photo" in groups:
            required.update({"Exif.Photo.ExifVersion": "48 50 51 50", "Exif.Photo.FlashpixVersion": "48 49 48 48",
                             "Exif.Photo.ColorSpace": "1", "Exif.Photo.ComponentsConfiguration": "1 2 3 0",
                             "Exif.Photo.PixelXDimension": str(width), "Exif.Photo.PixelYDimension": str(height)})
        for key, value in required.items():
            if out.findKey(exiv2.ExifKey(key)) == out.end():
                out[key] = value
    if out.findKey(exiv2.ExifKey("Exif.Photo.PixelXDimension")) != out.end() or \
            out.findKey(exiv2.ExifKey("Exif.Photo.PixelYDimension")) != out.end():
        out["Exif.Photo.PixelXDimension"] = str(width)
        out["Exif.Photo.PixelYDimension"] = str(height)
    return out


def copy_metadata(source: tuple[Any, Any, Any], data: bytes, fmt: str, width: int, height: int,
                  orientation: bool = True) -> bytes:
    """``data`` (a freshly encoded JPEG/PNG/WebP/TIFF) with the source's EXIF, IPTC and XMP."""
    exiv2 = _exiv2()
    exif, iptc, xmp = source
    with exiv2_warnings():
        try:
            img = exiv2.ImageFactory.open(data)
            img.readMetadata()
            new_exif = _prepare_exif(exif, width, height, fmt, orientation)
            if fmt == "tiff":          # keep the encoder's own image-structure tags of the new TIFF
                for d in img.exifData():
                    if d.key() in _SIZE_TAGS:
                        new_exif.add(d)
            img.setExifData(new_exif)
            if CONTAINERS[fmt] >= {"iptc"} and iptc.count():
                img.setIptcData(iptc)
            if xmp.count():
                x = exiv2.XmpData()
                for d in xmp:
                    x.add(d)
                if x.findKey(exiv2.XmpKey("Xmp.tiff.Orientation")) != x.end():
                    x["Xmp.tiff.Orientation"] = "1"
                img.setXmpData(x)
            img.writeMetadata()
        except exiv2.Exiv2Error as exc:
            raise MetadataError(f"cannot copy the metadata to the new file ({_why(exc)})") from exc
        out = bytes(img.io().data())
    return fix_xmp_namespaces(out) if fmt == "jpeg" else out


def exif_and_xmp_blobs(source: tuple[Any, Any, Any], width: int, height: int,
                       orientation: bool = True) -> tuple[bytes | None, bytes | None]:
    """(EXIF block ``Exif\\0\\0`` + TIFF, XMP packet) for encoders that take them as bytes (HEIC, AVIF).
    The EXIF block is made by libexiv2 in a 1-pixel JPEG (the binding has no bare EXIF encoder)."""
    import io

    from PIL import Image

    from .jpeg import segments

    exif, _iptc, xmp = source
    blob = None
    if exif.count():
        buf = io.BytesIO()
        Image.new("RGB", (1, 1)).save(buf, "JPEG")
        carrier = copy_metadata((exif, _exiv2().IptcData(), _exiv2().XmpData()), buf.getvalue(), "jpeg",
                                width, height, orientation)
        for marker, start, end in segments(carrier):
            if marker == 0xE1 and carrier[start:start + 6] == b"Exif\x00\x00":
                blob = carrier[start:end]
    packet = None
    if xmp.count():
        x = _exiv2().XmpData()
        for d in xmp:
            x.add(d)
        if x.findKey(_exiv2().XmpKey("Xmp.tiff.Orientation")) != x.end():
            x["Xmp.tiff.Orientation"] = "1"
        with exiv2_warnings():
            result = _exiv2().XmpParser.encode(x)       # [status, packet]
        text = result[-1] if isinstance(result, (list, tuple)) else result
        packet = text.encode("utf-8") if isinstance(text, str) and text else None
    return blob, packet
