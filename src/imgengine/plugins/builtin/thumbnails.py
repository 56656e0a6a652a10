"""The thumbnails analyzer: gallery previews and grid thumbnails made from analyze's own decode.

Without it, ``export gallery`` decodes every photo a second time after ``analyze`` decoded it. With it
(opt-in: ``--plugin thumbnails`` or ``plugins: {thumbnails: {enabled: true}}``), the one decode of the
per-file stage is made at the preview size (1600 px: a JPEG is draft-decoded at 1/2 instead of 1/8) and
the previews and thumbnails are written to a content-keyed cache; the gallery then links them into the
site and decodes nothing. Worth it when a gallery will be built: the decode's entropy pass (the part a
reduced-scale decode cannot skip) is done once instead of twice; ``benchmarks/bench_gallery.py`` measures
both paths, wall and CPU. Not worth it otherwise (a larger decode for nothing), hence off by default.

The cache (``cache_dir``, default ``$XDG_CACHE_HOME/imgengine/thumbnails``) is keyed by the photo's
sha256 like the site's own thumbnails, so moved and renamed photos keep theirs, and deleting it is safe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ...analyzers.base import AnalysisInput, Result
from .. import hookimpl
from .base import ConfiguredAnalyzer


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imgengine" / "thumbnails"


def cache_dir_from(config: dict[str, Any] | None) -> Path:
    folder = (config or {}).get("cache_dir")
    return Path(folder).expanduser() if folder else default_cache_dir()


@dataclass(frozen=True)
class ThumbnailsResult(Result):
    key: str
    format: str
    preview_size: int
    made: bool              # False: the cache had them already (same content analysed before)


class ThumbnailsAnalyzer(ConfiguredAnalyzer):
    name: ClassVar[str] = "thumbnails"
    version: ClassVar[str] = "1"
    needs_pixels: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("hashes",)     # the content key (sha256)
    description: ClassVar[str] = ("gallery previews and thumbnails from analyze's own decode (export gallery "
                                  "then reuses them instead of decoding again)")
    config_defaults: ClassVar[dict[str, Any]] = {
        "enabled": False,        # opt-in: --plugin thumbnails
        "format": "webp",        # webp | avif, as export gallery --thumb-format
        "preview_size": 1600,    # as export gallery --preview-size
        "cache_dir": None,       # default $XDG_CACHE_HOME/imgengine/thumbnails
    }
    pixel_size: ClassVar[int | None] = 1600

    def __init__(self, config: dict[str, Any] | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self.pixel_size = int(self.config["preview_size"])  # type: ignore[misc]
        if self.config["format"] not in ("webp", "avif"):
            from ...errors import ConfigError

            raise ConfigError(f"plugins.thumbnails.format {self.config['format']!r}: use webp or avif")

    def options(self):
        from .gallery import GalleryOptions

        return GalleryOptions(thumb_format=self.config["format"], preview_size=self.pixel_size)

    def analyze(self, item: AnalysisInput) -> ThumbnailsResult:
        from .gallery.build import render_thumbs, thumb_paths

        sha = (item.results.get("hashes") or {}).get("sha256")
        if not sha:
            raise ValueError("no sha256 from the hashes analyzer")
        key = sha[:32]
        opts = self.options()
        targets = thumb_paths(cache_dir_from(self.config), key, opts)
        made = not all(p.is_file() for p in targets.values())
        if made:
            render_thumbs(item.image_at(self.pixel_size), targets, opts)
        return ThumbnailsResult(key, opts.thumb_format, opts.preview_size, made)


@hookimpl
def register_analyzers() -> list[type]:
    return [ThumbnailsAnalyzer]
