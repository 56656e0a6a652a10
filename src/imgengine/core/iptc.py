"""Parse IPTC-IIM records (the Application Record, 2:xx) from the IPTC-NAA block."""

from __future__ import annotations

import struct

# dataset number of record 2 -> our key; repeatable datasets are collected into lists
DATASETS = {5: "ObjectName", 25: "Keywords", 55: "DateCreated", 60: "TimeCreated", 80: "By-line",
            105: "Headline", 116: "CopyrightNotice", 120: "Caption-Abstract"}
REPEATABLE = {"Keywords", "By-line"}


def parse_iptc(data: bytes, warnings: list[str]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    utf8 = False
    pos, n = 0, len(data)
    raw: list[tuple[str, bytes]] = []
    while pos + 5 <= n:
        if data[pos] != 0x1C:
            if any(data[pos:]):   # trailing zero padding is common and harmless
                warnings.append("IPTC: damaged record; read up to it")
            break
        record, dataset, length = data[pos + 1], data[pos + 2], struct.unpack_from(">H", data, pos + 3)[0]
        pos += 5
        if length & 0x8000:       # extended dataset: the length is in the next (length & 0x7fff) bytes
            nbytes = length & 0x7FFF
            length = int.from_bytes(data[pos:pos + nbytes], "big")
            pos += nbytes
        value = data[pos:pos + length]
        pos += length
        if record == 1 and dataset == 90:
            utf8 = b"\x1b%G" in value
        elif record == 2 and dataset in DATASETS:
            raw.append((DATASETS[dataset], value))
    for key, value in raw:
        text = _decode(value, utf8)
        if key in REPEATABLE:
            lst = out.setdefault(key, [])
            assert isinstance(lst, list)
            lst.append(text)
        elif key not in out:
            out[key] = text
    return out


def _decode(value: bytes, utf8: bool) -> str:
    value = value.rstrip(b"\x00")
    if utf8:
        return value.decode("utf-8", "replace")
    try:   # no charset declared: UTF-8 when it decodes as such, else Latin-1 (ExifTool's default)
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")
