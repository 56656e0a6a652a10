#!/usr/bin/env python3
"""Generate ~40 realistic sample photos (several cameras, GPS, all 8 orientations, sharp/blurred,
under/over exposed, near-duplicates, HEIC, WebP, broken files, odd file names).

Usage: python examples/make_sample_photos.py [FOLDER]   (default: sample_photos)
"""

import sys
from pathlib import Path

from imgengine.testing.samples import make_sample_set

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "sample_photos")
    paths = make_sample_set(target)
    print(f"wrote {len(paths)} sample photos to {target}/")
