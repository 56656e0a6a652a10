"""Metadata analyzer: EXIF/XMP/IPTC in every container, fallbacks, and broken metadata that must not crash."""

from __future__ import annotations

import importlib.util
import io
import shutil
import struct
from pathlib import Path

import piexif
import pytest
from PIL import Image

from imgengine.analyzers.base import AnalysisInput
from imgengine.analyzers.metadata import MetadataAnalyzer, camera_name, read_metadata
from imgengine.core.photo import Photo
from imgengine.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


# ------------------------------------------------------------------------------------------ builders
def _jpeg(size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buf, "JPEG", quality=80, **save)
    return buf.getvalue()


def _with_segments(jpeg: bytes, *segments: tuple[int, bytes]) -> bytes:
    """Insert APPn segments right after SOI."""
    out = b"".join(bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body for marker, body in segments)
    return jpeg[:2] + out + jpeg[2:]


def _xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        f'{body}</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _iptc_app13(records: list[tuple[int, bytes]], utf8: bool = True) -> bytes:
    iptc = b""
    if utf8:
        iptc += b"\x1c\x01\x5a" + struct.pack(">H", 3) + b"\x1b%G"
    for dataset, value in records:
        iptc += b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(value)) + value
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">L", len(iptc)) + iptc
    if len(iptc) % 2:
        resource += b"\x00"
    return b"Photoshop 3.0\x00" + resource


def _full_exif() -> bytes:
    return piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS 40D\x00\x00  ",
                piexif.ImageIFD.Orientation: 6, piexif.ImageIFD.Software: b"Firmware 1.0.3",
                piexif.ImageIFD.Artist: "Zoë Ångström".encode(), piexif.ImageIFD.Copyright: b"(c) Z",
                piexif.ImageIFD.ImageDescription: b"Harbour at dusk", 0x4746: 4},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:07:14 18:30:05", piexif.ExifIFD.SubSecTimeOriginal: b"123",
                 piexif.ExifIFD.OffsetTimeOriginal: b"-03:00", piexif.ExifIFD.DateTimeDigitized: b"2021:07:14 18:30:06",
                 piexif.ExifIFD.ISOSpeedRatings: 400, piexif.ExifIFD.ExposureTime: (1, 250),
                 piexif.ExifIFD.FNumber: (28, 10), piexif.ExifIFD.FocalLength: (50, 1),
                 piexif.ExifIFD.FocalLengthIn35mmFilm: 80, piexif.ExifIFD.Flash: 25,
                 piexif.ExifIFD.LensModel: b"EF50mm f/1.4 USM"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"S", piexif.GPSIFD.GPSLatitude: ((33, 1), (51, 1), (3600, 100)),
                piexif.GPSIFD.GPSLongitudeRef: b"W", piexif.GPSIFD.GPSLongitude: ((70, 1), (30, 1), (0, 1)),
                piexif.GPSIFD.GPSAltitudeRef: 1, piexif.GPSIFD.GPSAltitude: (125, 10),
                piexif.GPSIFD.GPSDateStamp: b"2021:07:14", piexif.GPSIFD.GPSTimeStamp: ((21, 1), (30, 1), (525, 100))},
    })


def _tiff_blob(entries: list[tuple[int, int, int, bytes]], tail: bytes = b"", next_ifd: int = 0) -> bytes:
    """A little-endian TIFF with one IFD at offset 8; ``entries`` are (tag, type, count, 4-byte field)."""
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHL", tag, typ, count) + value.ljust(4, b"\x00")[:4]
    ifd += struct.pack("<L", next_ifd)
    return b"II*\x00" + struct.pack("<L", 8) + ifd + tail


def _exif_jpeg(tiff: bytes) -> bytes:
    return _with_segments(_jpeg(), (0xE1, b"Exif\x00\x00" + tiff))


# ------------------------------------------------------------------------------------------ camera JPEG
def test_camera_jpeg_full_exif_gps_south_west_negative_altitude():
    m = read_metadata(piexif_insert(_full_exif(), _jpeg((64, 48))))
    assert (m.make, m.model, m.camera) == ("Canon", "Canon EOS 40D", "Canon EOS 40D")
    assert m.lens_model == "EF50mm f/1.4 USM"
    assert m.software == "Firmware 1.0.3" and m.artist == "Zoë Ångström" and m.copyright == "(c) Z"
    assert m.datetime_original == "2021-07-14T18:30:05.123-03:00"
    assert m.date_source == "EXIF:DateTimeOriginal"
    assert m.create_date == "2021-07-14T18:30:06"
    assert m.gps_latitude == pytest.approx(-(33 + 51 / 60 + 36 / 3600))
    assert m.gps_longitude == pytest.approx(-70.5)
    assert m.gps_altitude == pytest.approx(-12.5)
    assert m.gps_time == "2021-07-14T21:30:05.25Z"
    assert m.orientation == 6
    assert (m.width, m.height, m.upright_width, m.upright_height) == (64, 48, 48, 64)
    assert m.iso == 400 and m.exposure_time == pytest.approx(0.004) and m.f_number == pytest.approx(2.8)
    assert m.focal_length == 50 and m.focal_length_35mm == 80
    assert m.flash == 25 and m.flash_fired is True
    assert m.description == "Harbour at dusk" and m.rating == 4
    assert m.has_exif and not m.has_xmp and not m.has_iptc
    assert m.warnings == ()


def piexif_insert(exif: bytes, jpeg: bytes) -> bytes:
    out = io.BytesIO()
    piexif.insert(exif, jpeg, out)
    return out.getvalue()


def test_analyzer_reads_from_analysis_input(tmp_path):
    path = tmp_path / "cam.jpg"
    path.write_bytes(piexif_insert(_full_exif(), _jpeg()))
    item = AnalysisInput(Photo.from_path(path), Settings())
    result = MetadataAnalyzer().analyze(item)
    assert result.model == "Canon EOS 40D" and result.iso == 400
    assert MetadataAnalyzer.version == "2" and MetadataAnalyzer.needs_pixels is False
    assert result.to_dict()["keywords"] == []
    # the path form (memory-mapped) and a stream give the same answer
    assert read_metadata(path) == result
    with open(path, "rb") as fh:
        assert read_metadata(fh) == result


@pytest.mark.parametrize(("make", "model", "expected"), [
    ("Canon", "Canon EOS 40D", "Canon EOS 40D"),
    ("NIKON CORPORATION", "NIKON D70", "NIKON D70"),
    ("EASTMAN KODAK COMPANY", "KODAK CX7530 ZOOM DIGITAL CAMERA", "KODAK CX7530 ZOOM DIGITAL CAMERA"),
    ("Apple", "iPhone 6", "Apple iPhone 6"),
    (None, "X100", "X100"),
    ("FUJIFILM", None, "FUJIFILM"),
])
def test_camera_name_does_not_repeat_the_make(make, model, expected):
    assert camera_name(make, model) == expected


# ------------------------------------------------------------------------------------------ fallbacks
def test_xmp_only_dates_keywords_rating_title_fall_back():
    xmp = _xmp_packet(
        'xmp:Rating="3" xmp:CreateDate="2019-02-03T04:05:06+01:00" tiff:Make="FUJIFILM" tiff:Orientation="8" '
        'exif:GPSLatitude="43,28.094N" exif:GPSLongitude="11,52.9W" exif:FNumber="28/10" exif:ISOSpeedRatings="200">'
        '<exif:DateTimeOriginal>2019-02-03T04:05:06.5+01:00</exif:DateTimeOriginal>'
        '<dc:subject><rdf:Bag><rdf:li>sea</rdf:li><rdf:li>boat</rdf:li></rdf:Bag></dc:subject>'
        '<dc:title><rdf:Alt><rdf:li xml:lang="de">Hafen</rdf:li><rdf:li xml:lang="x-default">Harbour</rdf:li>'
        '</rdf:Alt></dc:title><dc:description><rdf:Alt><rdf:li xml:lang="x-default">At dusk</rdf:li></rdf:Alt>'
        '</dc:description><exif:Flash exif:Fired="True" exif:Return="0" exif:Mode="2" exif:Function="False" '
        'exif:RedEyeMode="False"/>'
    )
    data = _with_segments(_jpeg((30, 20)), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp))
    m = read_metadata(data)
    assert not m.has_exif and m.has_xmp
    assert m.datetime_original == "2019-02-03T04:05:06.5+01:00"
    assert m.date_source == "XMP:DateTimeOriginal"
    assert m.create_date == "2019-02-03T04:05:06+01:00"
    assert m.keywords == ("sea", "boat")
    assert m.title == "Harbour" and m.description == "At dusk" and m.rating == 3
    assert m.make == "FUJIFILM" and m.orientation == 8 and (m.upright_width, m.upright_height) == (20, 30)
    assert m.gps_latitude == pytest.approx(43 + 28.094 / 60) and m.gps_longitude == pytest.approx(-(11 + 52.9 / 60))
    assert m.f_number == pytest.approx(2.8) and m.iso == 200
    assert m.flash == 1 | (2 << 3) and m.flash_fired is True


def test_exif_wins_over_xmp_and_borrows_its_offset():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Nikon"},
                        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2020:01:02 03:04:05"}})
    xmp = _xmp_packet('tiff:Make="Other" exif:DateTimeOriginal="2020-01-02T03:04:05-04:00" />'
                      '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">')
    data = _with_segments(piexif_insert(exif, _jpeg()), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp))
    m = read_metadata(data)
    assert m.make == "Nikon"
    assert m.datetime_original == "2020-01-02T03:04:05-04:00" and m.date_source == "EXIF:DateTimeOriginal"


def test_extended_xmp_segments_are_reassembled():
    main = _xmp_packet('xmp:Rating="5">')
    ext = _xmp_packet('photoshop:DateCreated="2018-08-08T08:08:08Z">'
                      '<dc:subject><rdf:Bag><rdf:li>far</rdf:li><rdf:li>away</rdf:li></rdf:Bag></dc:subject>')
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    half = len(ext) // 2
    parts = [(0xE1, b"http://ns.adobe.com/xmp/extension/\x00" + guid + struct.pack(">LL", len(ext), off) + chunk)
             for off, chunk in ((half, ext[half:]), (0, ext[:half]))]   # out of order on purpose
    data = _with_segments(_jpeg(), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + main), *parts)
    m = read_metadata(data)
    assert m.rating == 5 and m.keywords == ("far", "away")
    assert m.datetime_original == "2018-08-08T08:08:08Z" and m.date_source == "XMP:DateCreated"


def test_iptc_keywords_caption_and_date_from_app13():
    app13 = _iptc_app13([(25, b"alpha"), (25, "b\u00e9ta".encode()), (5, b"Object"),
                         (120, b"Caption here"), (55, b"20100203"), (60, b"101112+0100"),
                         (80, b"Photographer"), (116, b"(c) IPTC")])
    m = read_metadata(_with_segments(_jpeg(), (0xED, app13)))
    assert m.has_iptc and not m.has_exif
    assert m.keywords == ("alpha", "béta")
    assert m.title == "Object" and m.description == "Caption here"
    assert m.datetime_original == "2010-02-03T10:11:12+01:00" and m.date_source == "IPTC:DateCreated"
    assert m.artist == "Photographer" and m.copyright == "(c) IPTC"


# ------------------------------------------------------------------------------------------ containers
def test_png_exif_chunk_and_itxt_xmp():
    from PIL import PngImagePlugin

    exif = Image.Exif()
    exif[0x010F] = "Google"
    exif[0x0110] = "Pixel 7"
    exif[0x0112] = 3
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", _xmp_packet('xmp:Rating="2">').decode())
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, "PNG", exif=exif.tobytes(), pnginfo=info)
    assert b"eXIf" in buf.getvalue()
    m = read_metadata(buf.getvalue())
    assert (m.make, m.model, m.orientation, m.rating) == ("Google", "Pixel 7", 3, 2)
    assert (m.width, m.height) == (40, 30) and m.has_exif and m.has_xmp


def test_webp_exif_and_xmp_chunks():
    buf = io.BytesIO()
    Image.new("RGB", (50, 20)).save(buf, "WEBP", exif=_full_exif(), xmp=_xmp_packet('xmp:Rating="1">'))
    m = read_metadata(buf.getvalue())
    assert m.model == "Canon EOS 40D" and m.gps_latitude is not None and m.gps_latitude < 0
    assert m.rating == 4    # EXIF's Rating tag wins over XMP's
    assert (m.width, m.height) == (50, 20) and m.has_xmp


def test_tiff_ifd0_and_exif():
    exif = Image.Exif()
    exif[0x010F] = "Hasselblad"
    exif[0x013B] = "A. Person"
    exif[0x0112] = 1
    buf = io.BytesIO()
    Image.new("RGB", (33, 22)).save(buf, "TIFF", exif=exif)
    m = read_metadata(buf.getvalue())
    assert m.make == "Hasselblad" and m.artist == "A. Person" and (m.width, m.height) == (33, 22)


def test_heic_exif_via_pillow_heif():
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    try:
        Image.new("RGB", (64, 32), (10, 200, 30)).save(buf, "HEIF", exif=_full_exif(), quality=50)
    except (KeyError, OSError, ValueError) as exc:  # pragma: no cover - wheel without an encoder
        pytest.skip(f"no HEIF encoder: {exc}")
    m = read_metadata(buf.getvalue())
    assert m.make == "Canon" and m.iso == 400
    assert m.datetime_original == "2021-07-14T18:30:05.123-03:00"
    assert m.gps_altitude == pytest.approx(-12.5)
    assert m.width is not None and m.height is not None


# ------------------------------------------------------------------------------------------ broken EXIF
def test_garbage_exif_does_not_crash():
    m = read_metadata(_with_segments(_jpeg((20, 10)), (0xE1, b"Exif\x00\x00" + bytes(range(256)) * 4)))
    assert (m.width, m.height) == (20, 10)
    assert m.warnings and not m.has_exif


def test_huge_offsets_and_counts_are_skipped_with_warnings():
    entries = [
        (0x010F, 2, 4, b"Sny\x00"),                           # fine, inline
        (0x0110, 2, 50, struct.pack("<L", 0x7FFFFFF0)),        # points far past the end
        (0x8769, 4, 1, struct.pack("<L", 0xFFFFFF00)),         # ExifIFD pointer past the end
        (0x0131, 2, 0x40000000, struct.pack("<L", 20)),        # absurd count
    ]
    m = read_metadata(_exif_jpeg(_tiff_blob(entries)))
    assert m.make == "Sny" and m.model is None
    joined = " | ".join(m.warnings)
    assert "past the end" in joined and "ExifIFD" in joined and "claims" in joined


def test_ifd_entry_count_beyond_data_and_loops():
    looping = _tiff_blob([(0x010F, 2, 4, b"Lei\x00"), (0x8769, 4, 1, struct.pack("<L", 8))])
    m = read_metadata(_exif_jpeg(looping))
    assert m.make == "Lei" and any("loops" in w for w in m.warnings)
    truncated = (b"II*\x00" + struct.pack("<L", 8) + struct.pack("<H", 400)
                 + b"\x0f\x01\x02\x00\x04\x00\x00\x00Ab\x00\x00")
    m = read_metadata(_exif_jpeg(truncated))
    assert m.make == "Ab" and any("truncated" in w for w in m.warnings)


def test_wrong_types_are_converted_or_reported():
    tail_at = 8 + 2 + 12 * 4 + 4
    tail = b"5.6\x00" + b"ISO\x00"
    entries = [
        (0x010F, 3, 1, struct.pack("<H", 7)),                  # Make as SHORT
        (0x0112, 2, 2, b"6\x00"),                              # Orientation as ASCII
        (0x8769, 2, 4, b"abc\x00"),                            # ExifIFD pointer as a string
        (0x0110, 2, 8, struct.pack("<L", tail_at)),            # Model -> "5.6"
    ]
    m = read_metadata(_exif_jpeg(_tiff_blob(entries, tail)))
    assert m.make == "7" and m.model == "5.6" and m.orientation == 6
    joined = " | ".join(m.warnings)
    assert "wrong type" in joined and "ExifIFD" in joined
    # a rational with a zero denominator and an out-of-range orientation
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 42},
                        "Exif": {piexif.ExifIFD.FNumber: (28, 0), piexif.ExifIFD.ExposureTime: (0, 0)}})
    m = read_metadata(piexif_insert(exif, _jpeg()))
    assert m.f_number is None and m.exposure_time is None and m.orientation is None
    assert any("zero denominator" in w for w in m.warnings) and any("Orientation" in w for w in m.warnings)


def test_non_utf8_and_emoji_strings():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Caf\xe9 Cam\xff", piexif.ImageIFD.Model: "📷 Snap 🌅".encode(),
                                piexif.ImageIFD.Artist: b"\x00\x00", piexif.ImageIFD.ImageDescription: b"   "}})
    m = read_metadata(piexif_insert(exif, _jpeg()))
    assert m.make == "Café Camÿ" and m.model == "📷 Snap 🌅"
    assert m.artist is None and m.description is None
    assert any("not UTF-8" in w for w in m.warnings)
    assert m.to_dict()["model"] == "📷 Snap 🌅"


def test_bad_xmp_and_iptc_give_warnings_not_errors():
    data = _with_segments(_jpeg(), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:RDF><oops"),
                          (0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x06\x1c\x02\x19\xff\xff\x00"))
    m = read_metadata(data)
    assert (m.width, m.height) == (64, 48)
    assert any("XMP" in w for w in m.warnings)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\xff\xff", b"not an image at all",
                                  b"II*\x00\xff\xff\xff\xff", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 20])
def test_truncated_or_foreign_files_never_raise(data, tmp_path):
    m = read_metadata(data)
    assert isinstance(m.warnings, tuple)
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    assert isinstance(read_metadata(path).warnings, tuple)


def test_segment_running_past_the_end_keeps_what_was_read():
    data = piexif_insert(_full_exif(), _jpeg())
    cut = data[: data.find(b"\xff\xdb")] + b"\xff\xe1\x40\x00Exif\x00\x00"   # drop the scan, add a bad segment
    m = read_metadata(cut)
    assert m.model == "Canon EOS 40D"
    assert any("past the end" in w for w in m.warnings)


# ------------------------------------------------------------------------------------------ corpus vs ExifTool
AGREEMENT_TARGET = 0.995


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus")
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_corpus_agrees_with_exiftool():
    spec = importlib.util.spec_from_file_location("compare_exiftool", REPO / "benchmarks" / "compare_exiftool.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    files = mod.list_images(CORPUS)
    ref, _ = mod.run_exiftool(files, "-n")
    grouped, _ = mod.run_exiftool(files, "-n", "-a", "-G1")
    result = mod.compare(files, ref, grouped)
    assert result["reported"] > 500
    shown = "\n".join(f"{p}: {f} {o!r} vs {t!r}" for p, f, o, t in result["mismatches"][:30])
    assert result["agreement"] >= AGREEMENT_TARGET, shown


# ------------------------------------------------------------------------------------------ pre-EXIF-2 sources
def test_iso_from_canon_and_casio_maker_notes():
    settings = [0] * 20
    settings[16] = 0x4000 | 200                               # CameraISO written as a number
    data = struct.pack("<20H", *settings)
    ifd = struct.pack("<H", 1) + struct.pack("<HHLL", 0x0001, 3, 20, 18) + struct.pack("<L", 0)
    canon = ifd + data + b"II*\x00" + struct.pack("<L", 0)   # footer: offsets count from the block start
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon"}, "Exif": {piexif.ExifIFD.MakerNote: canon}})
    assert read_metadata(piexif_insert(exif, _jpeg())).iso == 200

    casio = b"QVC\x00\x00\x00" + struct.pack(">H", 1) + struct.pack(">HHLHH", 0x3014, 3, 1, 400, 0) + b"\x00" * 4
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"CASIO COMPUTER CO.,LTD"},
                        "Exif": {piexif.ExifIFD.MakerNote: casio}})
    assert read_metadata(piexif_insert(exif, _jpeg())).iso == 400
    # Olympus: lens name from the Equipment IFD, offsets counted from the maker notes' own start
    olympus = (b"OLYMPUS\x00II\x03\x00" + struct.pack("<H", 1) + struct.pack("<HHLL", 0x2010, 13, 1, 30)
               + struct.pack("<L", 0) + struct.pack("<H", 1) + struct.pack("<HHLL", 0x0203, 2, 16, 48)
               + struct.pack("<L", 0) + b"M.14-42mm F3.5\x00\x00")
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"OLYMPUS IMAGING CORP."},
                        "Exif": {piexif.ExifIFD.MakerNote: olympus}})
    assert read_metadata(piexif_insert(exif, _jpeg())).lens_model == "M.14-42mm F3.5"
    # garbage maker notes: no ISO, no exception
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon"}, "Exif": {piexif.ExifIFD.MakerNote: b"\xff" * 40}})
    assert read_metadata(piexif_insert(exif, _jpeg())).iso is None


def test_app12_picture_info_and_ciff_heap():
    info = b"OLYMPUS OPTICAL CO.,LTD.\x00 713\r\n[picture info]\r\nTimeDate=909698819\r\nShutter=33363\r\n" \
           b"Flash=1\r\nFNumber=F2.8\r\n[camera info]\r\nType=SR55\r\n"
    m = read_metadata(_with_segments(_jpeg(), (0xEC, info)))
    assert m.datetime_original == "1998-10-29T22:06:59" and m.date_source == "APP12:DateTimeOriginal"
    assert m.exposure_time == pytest.approx(0.033363) and m.f_number == pytest.approx(2.8) and m.flash == 1

    # CIFF heap: records' data first, then the directory, then the directory's offset
    make_model = b"Canon\x00Canon PowerShot A5\x00"
    heap = make_model + struct.pack("<LLL", 972687386, 0, 0)
    entries = [(0x080A, len(make_model), 0), (0x180E, 12, len(make_model))]
    table = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HLL", *e) for e in entries)
    block = heap + table + struct.pack("<L", len(heap))
    ciff = b"II" + struct.pack("<L", 14) + b"HEAPJPGM" + block
    m = read_metadata(_with_segments(_jpeg(), (0xE0, ciff)))
    assert (m.make, m.model) == ("Canon", "Canon PowerShot A5")
    assert m.datetime_original == "2000-10-27T22:56:26" and m.date_source == "CIFF:DateTimeOriginal"
