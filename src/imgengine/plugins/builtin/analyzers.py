"""The per-file analyzers: metadata (EXIF/XMP/IPTC), content (quality measures), hashes (sha256 + perceptual)."""

from __future__ import annotations

from .. import hookimpl


@hookimpl
def register_analyzers() -> list[type]:
    from ...analyzers import registry

    return list(registry.BUILTIN)
