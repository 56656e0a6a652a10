"""ImageFolder-style datasets (``DIR/<class>/<image>``) and the stratified train/validation split."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from ..core.formats import EXTENSIONS
from ..errors import UsageError

IMAGE_SUFFIXES = frozenset(s for exts in EXTENSIONS.values() for s in exts) - {".dng", ".nef", ".nrw", ".cr2",
                                                                                ".cr3", ".arw", ".srf", ".sr2",
                                                                                ".orf", ".rw2", ".raf", ".pef",
                                                                                ".srw"}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True)
class ImageFolder:
    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.classes, 0)
        for s in self.samples:
            out[self.classes[s.label]] += 1
        return out


def scan_image_folder(root: Path, min_per_class: int = 1) -> ImageFolder:
    """Classes are the sub-folders that hold images (sorted, so label indices are stable); files inside a
    class folder's sub-folders count for that class. Hidden files and folders are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"dataset {root}: no such folder")
    classes: list[str] = []
    samples: list[tuple[str, Path]] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        files = []
        for dirpath, dirnames, filenames in os.walk(entry.path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            files += [Path(dirpath) / f for f in sorted(filenames)
                      if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
        if files:
            classes.append(entry.name)
            samples += [(entry.name, f) for f in files]
    if len(classes) < 2:
        raise UsageError(f"dataset {root}: needs at least two class folders with images "
                         f"(DIR/<class>/<image>); found {len(classes)}")
    index = {c: i for i, c in enumerate(classes)}
    folder = ImageFolder(root, tuple(classes), tuple(Sample(p, index[c]) for c, p in samples))
    small = [c for c, n in folder.counts().items() if n < min_per_class]
    if small:
        raise UsageError(f"dataset {root}: classes with fewer than {min_per_class} images: {', '.join(small)}")
    return folder


def stratified_split(folder: ImageFolder, val_fraction: float = 0.2, seed: int = 0
                     ) -> tuple[list[Sample], list[Sample]]:
    """Per class: shuffle with ``seed``, hold out ``val_fraction`` (at least one image when the class has two)."""
    rng = random.Random(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    for label in range(len(folder.classes)):
        items = [s for s in folder.samples if s.label == label]
        rng.shuffle(items)
        n_val = round(len(items) * val_fraction)
        if len(items) >= 2:
            n_val = min(max(n_val, 1), len(items) - 1)
        val += items[:n_val]
        train += items[n_val:]
    return train, val
