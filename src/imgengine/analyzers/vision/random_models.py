"""Moved to :mod:`imgengine.testing.models` (test support); kept as an alias for old imports."""

from ...testing.models import *  # noqa: F401,F403
from ...testing.models import build_clip, build_detr  # noqa: F401
