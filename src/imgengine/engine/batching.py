"""Batch sizes and devices for the batch stage, shared by every batch analyzer: which device a run uses,
``--batch-size`` parsing, and the halve-on-out-of-memory-and-retry loop.

A CUDA out-of-memory error at a model call halves that model's batch size and re-runs the same images in
smaller chunks; nothing is dropped, every retry is counted (the run summary shows them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UsageError


def resolve_device(requested: str) -> str:
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {requested}: no CUDA device is available to torch {torch.__version__}; "
                             "use --device cpu or auto")
        return requested
    if requested == "cpu":
        return "cpu"
    raise UsageError(f"device {requested!r}: use auto, cpu or cuda")


def parse_batch_size(value: str | int) -> int | None:
    """None for auto, else a positive int."""
    text = str(value).strip().lower()
    if text in ("", "auto", "0"):
        return None
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"batch size {value!r}: use auto or a positive number")
    if n < 1:
        raise UsageError(f"batch size {value!r}: use auto or a positive number")
    return n


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@dataclass
class BatchState:
    """The current batch size of one model; it only shrinks (on OOM)."""

    name: str
    size: int
    retries: int = 0
    sizes_seen: list[int] = field(default_factory=list)


def run_chunked(fn: Callable[[int, int], list], n: int, state: BatchState,
                on_oom: Callable[[str], None] | None = None) -> list:
    """Call ``fn(start, stop)`` over ``range(n)`` in chunks of ``state.size``; on OOM halve and retry."""
    import torch

    out: list = []
    start = 0
    while start < n:
        stop = min(n, start + state.size)
        try:
            out.extend(fn(start, stop))
        except Exception as exc:
            if not is_oom(exc) or stop - start <= 1:
                raise
            new = max(1, (stop - start) // 2)
            state.retries += 1
            if on_oom:
                on_oom(f"{state.name}: out of memory at batch {stop - start}; retrying the same images "
                       f"at batch {new}")
            state.size = new
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        if stop - start not in state.sizes_seen:
            state.sizes_seen.append(stop - start)
        start = stop
    return out
