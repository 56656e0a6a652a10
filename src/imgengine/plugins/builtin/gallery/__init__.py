"""``imgengine export gallery``: a static site of the catalog's photos that opens from the file system.

No server and no CDN at view time: the page, its script and its libraries (Leaflet, a world outline) are
copied from this package, the photo data is a ``<script>`` file (``file://`` pages cannot fetch JSON), and
thumbnails/previews are generated once per photo content and reused by later builds (incremental).

Layout of a built site::

    site/index.html
    site/assets/app.js, style.css, vendor/leaflet.{js,css}, vendor/world-land.js
    site/data/photos.js                     window.IMGENGINE_GALLERY = {...}
    site/thumbs/ab/<key>-256.webp, -512.webp  (srcset 1x / 2x for the grid)
    site/previews/ab/<key>-1600.webp          (the lightbox)
"""

from __future__ import annotations

from .build import GalleryOptions, GalleryReport, build_gallery

__all__ = ["GalleryOptions", "GalleryReport", "build_gallery"]
