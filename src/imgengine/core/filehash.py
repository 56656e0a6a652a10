"""The sha256 of a file, streamed: one implementation for the pipeline, the hashes analyzer and the journal."""

from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike, bufsize: int = CHUNK) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()
