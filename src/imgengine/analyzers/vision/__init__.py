"""Vision models: CLIP scenes + image embeddings and DETR objects, run as a batched stage after the CPU
analyzers (see :mod:`.stage`). Importing this package does not import torch."""

from .models import ModelLocation, locate_model

__all__ = ["ModelLocation", "locate_model"]
