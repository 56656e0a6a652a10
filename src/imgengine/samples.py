"""Moved to :mod:`imgengine.testing.samples` (test and demo support); kept as an alias for old imports."""

from .testing.samples import *  # noqa: F401,F403
from .testing.samples import CAMERAS, camera_exif, jpeg_bytes, make_sample_set, scene, store_rotated  # noqa: F401
