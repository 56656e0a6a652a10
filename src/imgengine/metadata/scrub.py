"""Privacy scrubbing rules: what ``imgengine scrub`` removes, and the re-reading check that it is gone.

Levels: ``gps`` (location only), ``privacy`` (the default: location, serial numbers, owner and creator names,
maker notes, which hold serials and sometimes names, editing history, unique ids, comments, and the EXIF
thumbnail, regenerated from the picture itself because an old one can show the uncropped original), ``all``
(every EXIF/IPTC/XMP value except the orientation the picture needs to display upright). ``keep`` names
fields that stay: artist, copyright, date, camera, gps.
"""

from __future__ import annotations

import io
from typing import Any

from ..errors import MetadataError, UsageError
from . import exiv2_backend as xb
from .jpeg import fix_xmp_namespaces

LEVELS = ("gps", "privacy", "all")
KEEPABLE = {
    "artist": ("Exif.Image.Artist", "Xmp.dc.creator", "Iptc.Application2.Byline", "Xmp.tiff.Artist"),
    "copyright": ("Exif.Image.Copyright", "Xmp.dc.rights", "Iptc.Application2.Copyright"),
    "date": ("Exif.Photo.DateTimeOriginal", "Exif.Photo.DateTimeDigitized", "Exif.Image.DateTime",
             "Exif.Photo.OffsetTime", "Exif.Photo.OffsetTimeOriginal", "Exif.Photo.OffsetTimeDigitized",
             "Exif.Photo.SubSecTimeOriginal", "Xmp.photoshop.DateCreated", "Xmp.xmp.CreateDate",
             "Xmp.exif.DateTimeOriginal", "Iptc.Application2.DateCreated", "Iptc.Application2.TimeCreated"),
    "camera": ("Exif.Image.Make", "Exif.Image.Model", "Exif.Photo.LensModel", "Exif.Photo.LensMake",
               "Exif.Photo.ExposureTime", "Exif.Photo.FNumber", "Exif.Photo.ISOSpeedRatings",
               "Exif.Photo.FocalLength", "Exif.Photo.FocalLengthIn35mmFilm", "Exif.Photo.Flash"),
    "gps": (),
}
SERIAL_WORDS = ("serial", "ownername", "uniqueid", "imageuniqueid", "documentid", "instanceid")
PRIVATE_KEYS = ("Exif.Image.Artist", "Exif.Image.Copyright", "Exif.Photo.CameraOwnerName",
                "Exif.Photo.BodySerialNumber", "Exif.Photo.LensSerialNumber", "Exif.Image.CameraSerialNumber",
                "Exif.Photo.ImageUniqueID", "Exif.Photo.UserComment", "Exif.Image.XPAuthor", "Exif.Image.XPComment",
                "Exif.Image.HostComputer", "Exif.Photo.MakerNote", "Exif.MakerNote.Offset",
                "Exif.MakerNote.ByteOrder", "Xmp.dc.creator", "Xmp.dc.rights", "Xmp.tiff.Artist",
                "Xmp.aux.SerialNumber", "Xmp.aux.LensSerialNumber", "Xmp.exifEX.BodySerialNumber",
                "Xmp.exifEX.LensSerialNumber", "Xmp.exifEX.CameraOwnerName", "Xmp.exif.UserComment",
                "Iptc.Application2.Byline", "Iptc.Application2.BylineTitle", "Iptc.Application2.Copyright",
                "Iptc.Application2.Contact", "Iptc.Application2.Credit", "Iptc.Application2.Writer")
PRIVATE_PREFIXES = ("Xmp.xmpMM.", "Xmp.photoshop.History", "Xmp.crs.", "Xmp.iptc.CreatorContactInfo")
MAKER_NOTE_GROUPS_EXCLUDED = ("Image", "Photo", "GPSInfo", "Iop", "Thumbnail", "Image2", "Image3")


def _is_gps(key: str) -> bool:
    return key.startswith("Exif.GPSInfo.") or key.startswith("Xmp.exif.GPS") or \
        key in ("Iptc.Application2.LocationCode", "Iptc.Application2.LocationName", "Xmp.iptc.Location",
                "Iptc.Application2.SubLocation", "Iptc.Application2.City", "Iptc.Application2.ProvinceState",
                "Iptc.Application2.CountryName", "Iptc.Application2.CountryCode", "Xmp.photoshop.City",
                "Xmp.photoshop.State", "Xmp.photoshop.Country", "Xmp.iptc.CountryCode")


def _is_private(key: str, group: str) -> bool:
    low = key.lower()
    if key.startswith("Exif.") and group not in MAKER_NOTE_GROUPS_EXCLUDED:
        return True                                     # a maker-note group: serials, owner, sometimes GPS
    return key in PRIVATE_KEYS or key.startswith(PRIVATE_PREFIXES) or any(w in low for w in SERIAL_WORDS)


# IFD pointers (libexiv2 keeps them right by itself) and the tags the EXIF standard requires, which say
# nothing about anyone: kept at every level so that the file stays valid
STRUCTURE = frozenset({
    "Exif.Image.ExifTag", "Exif.Image.GPSTag", "Exif.Photo.InteroperabilityTag", "Exif.Image.Orientation",
    "Exif.Photo.ColorSpace", "Exif.Photo.ExifVersion", "Exif.Photo.FlashpixVersion",
    "Exif.Photo.ComponentsConfiguration", "Exif.Photo.PixelXDimension", "Exif.Photo.PixelYDimension",
    "Exif.Image.XResolution", "Exif.Image.YResolution", "Exif.Image.ResolutionUnit", "Exif.Image.YCbCrPositioning",
    "Exif.Iop.InteroperabilityIndex", "Exif.Iop.InteroperabilityVersion"})


def should_remove(key: str, group: str, level: str, keep: frozenset[str]) -> bool:
    if key in STRUCTURE:
        return False
    for name in keep:
        if key in KEEPABLE[name] or (name == "gps" and _is_gps(key)):
            return False
    if _is_gps(key):
        return True
    if level == "gps":
        return False
    if level == "all":
        return True
    return _is_private(key, group) or group in ("Thumbnail", "Image2", "Image3")


def parse_keep(text: str | None) -> frozenset[str]:
    names = frozenset(k.strip().lower() for k in (text or "").split(",") if k.strip())
    bad = names - set(KEEPABLE)
    if bad:
        raise UsageError(f"--keep {','.join(sorted(bad))}: choose from {', '.join(KEEPABLE)}")
    return names


def scrub_bytes(data: bytes, fmt: str, level: str, keep: frozenset[str] = frozenset()) -> bytes:
    """``data`` with the level's metadata removed (libexiv2; JPEG/PNG/WebP/TIFF). A JPEG whose EXIF had a
    thumbnail gets a new one made from its own pixels. Checked by re-reading before it is returned."""
    exiv2 = xb._exiv2()
    with xb.exiv2_warnings():
        try:
            img = exiv2.ImageFactory.open(data)
            img.readMetadata()
        except exiv2.Exiv2Error as exc:
            raise MetadataError(f"metadata cannot be read ({xb._why(exc)}); not changed") from exc
        exif, iptc, xmp = img.exifData(), img.iptcData(), img.xmpData()
        had_thumb = any(d.groupName() == "Thumbnail" for d in exif)
        for container in (exif, iptc, xmp):
            doomed = [d.key() for d in container if should_remove(d.key(), d.groupName(), level, keep)]
            for key in dict.fromkeys(doomed):
                _erase_all(container, key)
        if level == "all" and not keep:
            img.clearIptcData()
            img.clearXmpData()
            img.clearComment()
        if had_thumb and fmt == "jpeg" and level != "gps":
            _new_thumbnail(exiv2, exif, data)
        img.writeMetadata()
        out = bytes(img.io().data())
    if fmt == "jpeg":
        out = fix_xmp_namespaces(out)
    left = leftovers(out, level, keep)
    if left:
        raise MetadataError(f"still there after scrubbing: {', '.join(left[:5])}; not changed")
    return out


def _erase_all(container: Any, key: str) -> None:
    exiv2 = xb._exiv2()
    make = {"Exif": exiv2.ExifKey, "Iptc": exiv2.IptcKey, "Xmp": exiv2.XmpKey}[key.split(".", 1)[0]]
    while True:
        it = container.findKey(make(key))
        if it == container.end():
            return
        container.erase(it)


def _new_thumbnail(exiv2: Any, exif: Any, data: bytes) -> None:
    """A 160-pixel thumbnail of the picture as it is now (never the camera's, which may show more)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (320, 320))
            im = im.convert("RGB")
            im.thumbnail((160, 160))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
    except Exception:  # noqa: BLE001 - no thumbnail is better than a failed scrub
        return
    exiv2.ExifThumb(exif).setJpegThumbnail(buf.getvalue())
    exif["Exif.Thumbnail.XResolution"] = "72/1"
    exif["Exif.Thumbnail.YResolution"] = "72/1"
    exif["Exif.Thumbnail.ResolutionUnit"] = "2"


def leftovers(data: bytes, level: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """Keys a scrub at ``level`` should have removed but that are present in ``data`` (re-read from bytes)."""
    exiv2 = xb._exiv2()
    with xb.exiv2_warnings():
        img = exiv2.ImageFactory.open(data)
        img.readMetadata()
        out = []
        for container in (img.exifData(), img.iptcData(), img.xmpData()):
            for d in container:
                if d.groupName() == "Thumbnail":
                    continue                      # our own, freshly made
                if should_remove(d.key(), d.groupName(), level, keep):
                    out.append(d.key())
    return out


def exiftool_args(level: str, keep: frozenset[str]) -> list[str]:
    """The same levels through ExifTool (HEIC/AVIF)."""
    args = [] if "gps" in keep else ["-gps:all=", "-XMP-exif:GPS*=", "-XMP-photoshop:City=", "-XMP-photoshop:State=",
                                     "-XMP-photoshop:Country=", "-XMP-iptcCore:Location="]
    if level == "gps":
        return args
    if level == "all":
        args = ["-all=", "-tagsFromFile", "@", "-EXIF:Orientation"]
        for name in sorted(keep):
            args += {"artist": ["-EXIF:Artist", "-XMP-dc:Creator"], "copyright": ["-EXIF:Copyright", "-XMP-dc:Rights"],
                     "date": ["-EXIF:DateTimeOriginal", "-EXIF:OffsetTimeOriginal", "-EXIF:CreateDate"],
                     "camera": ["-EXIF:Make", "-EXIF:Model", "-EXIF:LensModel"], "gps": ["-gps:all"]}[name]
        return args
    args += ["-MakerNotes:all=", "-XMP-xmpMM:all=", "-XMP-photoshop:History=", "-SerialNumber=",
             "-BodySerialNumber=", "-LensSerialNumber=", "-InternalSerialNumber=", "-OwnerName=",
             "-CameraOwnerName=", "-ImageUniqueID=", "-UserComment=", "-HostComputer=", "-IFD1:all="]
    if "artist" not in keep:
        args += ["-EXIF:Artist=", "-XMP-dc:Creator="]
    if "copyright" not in keep:
        args += ["-EXIF:Copyright=", "-XMP-dc:Rights="]
    return args
