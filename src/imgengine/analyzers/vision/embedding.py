"""How a CLIP image embedding is stored in the catalog's JSON: base64 of little-endian float16.

A 512-d embedding is 1,368 characters this way instead of ~5,000 as a JSON list of floats, and float16
keeps cosine similarities to about 1e-3, far below what changes a ranking that matters.
"""

from __future__ import annotations

import base64

import numpy as np

DTYPE = "float16"


def encode_embedding(vector: np.ndarray) -> str:
    v = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(v))
    if norm > 0:
        v = v / norm
    return base64.b64encode(v.astype("<f2").tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    """float32 vector, re-normalised to unit length (float16 rounding moves the norm slightly)."""
    v = np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
