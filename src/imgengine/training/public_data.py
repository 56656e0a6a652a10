"""Public datasets that fill an inventory's scene gaps: Places365 (scenes) and COCO (objects).

Each source takes only the classes the gaps ask for, ``per_class`` images each, into an ImageFolder
(``OUT/<class>/<source>_<name>.jpg``) with a ``sources.jsonl`` line per image saying where it came from.

Downloads go through torchvision (Places365's validation archive, 256 px) and COCO's own server (its
annotations, then only the chosen images by their ``coco_url``). Offline, each source stops with one message
naming what to fetch elsewhere; ``--from DIR`` ingests such a copy in the standard layout:

- Places365: ``categories_places365.txt`` plus either a file list (``places365_val.txt`` with ``val_256/``,
  ``places365_train_standard.txt`` with ``data_256/``) or the class folders (``[data_256/]a/airfield/*.jpg``);
- COCO: ``[annotations/]instances_<split>.json`` plus the images (``<split>/``, ``images/<split>/``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.filehash import sha256_of
from ..errors import ImgEngineError, UsageError

PLACES365_URL = "http://data.csail.mit.edu/places/places365/"
COCO_ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2017.zip"
SOURCES = ("places365", "coco")
Progress = Callable[[str, int, int], None]   # (what, done, total)


class DatasetUnavailableError(ImgEngineError):
    """A public dataset cannot be fetched (offline, server down) or a local copy is not in its layout."""


@dataclass
class Candidate:
    """One image a source can provide for a wanted class."""

    wanted: str           # the class folder it goes to (the gap's name)
    category: str         # the source's own category name
    name: str             # file name to use
    path: Path | None = None   # a local file
    url: str | None = None     # or where to fetch it


@dataclass
class IngestReport:
    source: str
    per_class: dict[str, int] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    skipped_existing: int = 0
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "per_class": self.per_class, "categories": self.categories,
                "skipped_existing": self.skipped_existing, "failed": self.failed}


def wanted_classes(gaps_file: Path | None, classes: Iterable[str]) -> list[str]:
    """The scene gaps of an inventory JSON plus any classes named on the command line, in order, no repeats."""
    out: list[str] = []
    if gaps_file is not None:
        try:
            data = json.loads(Path(gaps_file).read_text(encoding="utf-8"))
            gaps = data["gaps"]
        except OSError as exc:
            raise UsageError(f"gaps {gaps_file}: {exc.strerror or exc}")
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"gaps {gaps_file}: not an inventory JSON (`imgengine train inventory -o FILE`)")
        out += [g["bucket"] for g in gaps if g.get("dimension") == "scenes"]
    out += [c.strip() for c in classes if c.strip()]
    seen: set[str] = set()
    result = [c for c in out if not (c.lower() in seen or seen.add(c.lower()))]
    if not result:
        raise UsageError("no classes to fetch: the inventory lists no scene gaps (run the vision stage, or set "
                         "`scenes:` targets) and no --classes were given")
    return result


def _tokens(text: str) -> set[str]:
    return {t for t in text.lower().replace("/", " ").replace("_", " ").replace("-", " ").split() if t}


def matches(wanted: str, *names: str) -> bool:
    """Every word of ``wanted`` appears among the words of one of ``names`` ("forest" ~ "/f/forest/broadleaf")."""
    want = _tokens(wanted)
    return bool(want) and any(want <= _tokens(n) for n in names)


# -- Places365 ------------------------------------------------------------------------------------------------

def places365_candidates(root: Path, wanted: list[str], per_class: int, seed: int = 0) -> list[Candidate]:
    root = Path(root)
    cat_file = _find_one(root, "categories_places365.txt")
    if cat_file is None:
        raise DatasetUnavailableError(f"places365: {root} has no categories_places365.txt (the standard layout: "
                                      "categories_places365.txt + places365_val.txt + val_256/, or class folders)")
    categories: dict[int, str] = {}
    for line in cat_file.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            categories[int(parts[1])] = parts[0]
    chosen = {w: [c for c in categories.values() if matches(w, c)] for w in wanted}
    files: dict[str, list[Path]] = {w: [] for w in wanted}
    lists = sorted(p for p in cat_file.parent.glob("places365_*.txt"))
    bases = [cat_file.parent / d for d in ("val_256", "val_large", "data_256", "data_large", "train_256",
                                           "test_256")] + [cat_file.parent]
    if lists:
        for lst in lists:
            for line in lst.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    continue
                cat = categories.get(int(parts[1]))
                for w, cats in chosen.items():
                    if cat in cats:
                        rel = parts[0].lstrip("/")
                        found = next((b / rel for b in bases if (b / rel).is_file()), None)
                        if found is not None:
                            files[w].append(found)
    else:
        for w, cats in chosen.items():
            for cat in cats:
                for b in bases:
                    d = b / cat.lstrip("/")
                    if d.is_dir():
                        files[w] += sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
                        break
    out: list[Candidate] = []
    rng = random.Random(seed)
    for w in wanted:
        picked = sorted(set(files[w]))
        rng.shuffle(picked)
        for p in picked[:per_class]:
            cat = next((c for c in chosen[w] if f"/{c.strip('/')}/" in f"/{p.as_posix()}"), chosen[w][0]
                       if chosen[w] else w)
            out.append(Candidate(w, cat, p.name, path=p))
    return out


def download_places365(cache: Path, timeout: float = 15.0) -> Path:
    """Fetch Places365's validation archive (256 px, 100 images per category) through torchvision."""
    _reachable("places365", PLACES365_URL, timeout,
               "download val_256.tar and filelist_places365-standard.tar from http://places2.csail.mit.edu/"
               "download.html, unpack both into one folder")
    try:
        from torchvision.datasets import Places365
    except ImportError:
        raise DatasetUnavailableError("places365 downloads need torchvision: pip install 'imgengine[training]'")
    root = Path(cache) / "places365"
    root.mkdir(parents=True, exist_ok=True)
    try:
        Places365(str(root), split="val", small=True, download=True)
    except (OSError, urllib.error.URLError, RuntimeError) as exc:
        raise DatasetUnavailableError(f"places365: download failed ({exc}); fetch it elsewhere and use --from")
    return root


# -- COCO -----------------------------------------------------------------------------------------------------

def coco_candidates(root: Path, wanted: list[str], per_class: int, seed: int = 0,
                    annotations: Path | None = None) -> list[Candidate]:
    """Images whose dominant object (largest total annotated area) is a wanted category or supercategory."""
    root = Path(root)
    ann = annotations or _find_instances(root)
    if ann is None:
        raise DatasetUnavailableError(f"coco: {root} has no instances_*.json (the standard layout: "
                                      "annotations/instances_val2017.json + val2017/)")
    try:
        data = json.loads(ann.read_text(encoding="utf-8"))
        cats = {c["id"]: (c["name"], c.get("supercategory", "")) for c in data["categories"]}
        images = {im["id"]: im for im in data["images"]}
        area: dict[int, dict[int, float]] = {}
        for a in data["annotations"]:
            per = area.setdefault(a["image_id"], {})
            per[a["category_id"]] = per.get(a["category_id"], 0.0) + float(a.get("area", 0.0))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetUnavailableError(f"coco: {ann} is not a COCO instances file ({exc})")
    split = ann.stem.replace("instances_", "")
    bases = [root / split, root / "images" / split, ann.parent.parent / split, ann.parent.parent / "images" / split,
             root]
    by_class: dict[str, list[Candidate]] = {w: [] for w in wanted}
    for image_id in sorted(area):
        per = area[image_id]
        top = max(per, key=lambda c: per[c])
        name, supercat = cats.get(top, ("", ""))
        for w in wanted:
            if matches(w, name, supercat):
                im = images.get(image_id)
                if im is None:
                    continue
                local = next((b / im["file_name"] for b in bases if (b / im["file_name"]).is_file()), None)
                by_class[w].append(Candidate(w, name, Path(im["file_name"]).name, path=local,
                                             url=None if local else im.get("coco_url")))
                break
    rng = random.Random(seed)
    out: list[Candidate] = []
    for w in wanted:
        items = by_class[w]
        rng.shuffle(items)
        out += [c for c in items if c.path is not None or c.url][:per_class]
    return out


def download_coco_annotations(cache: Path, timeout: float = 15.0) -> Path:
    """COCO 2017 instance annotations (one 241 MB zip); images are fetched one by one afterwards."""
    _reachable("coco", COCO_ANNOTATIONS_URL, timeout,
               "download annotations_trainval2017.zip and val2017.zip from https://cocodataset.org/#download, "
               "unpack both into one folder")
    root = Path(cache) / "coco"
    target = root / "annotations" / "instances_val2017.json"
    if target.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "annotations_trainval2017.zip"
    _fetch(COCO_ANNOTATIONS_URL, archive, timeout, "coco")
    with zipfile.ZipFile(archive) as zf:
        zf.extract("annotations/instances_val2017.json", root)
    return target


# -- shared ---------------------------------------------------------------------------------------------------

def ingest(candidates: list[Candidate], output: Path, source: str, progress: Progress | None = None,
           timeout: float = 15.0) -> IngestReport:
    """Copy (or fetch) each candidate into ``output/<class>/``; never overwrites a different file."""
    report = IngestReport(source)
    manifest = Path(output) / "sources.jsonl"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest, "a", encoding="utf-8") as log:
        for i, c in enumerate(candidates):
            folder = Path(output) / _safe(c.wanted)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{source}_{_safe(c.name)}"
            origin = str(c.path) if c.path else c.url
            try:
                if target.exists():
                    if c.path is not None and sha256_of(target) == sha256_of(c.path):
                        report.skipped_existing += 1
                        continue
                    target = _free_name(target)
                if c.path is not None:
                    tmp = target.with_name(target.name + ".part")
                    shutil.copyfile(c.path, tmp)
                    os.replace(tmp, target)
                else:
                    _fetch(str(c.url), target, timeout, source)
            except (OSError, DatasetUnavailableError) as exc:
                report.failed.append(f"{origin}: {exc}")
                continue
            report.per_class[c.wanted] = report.per_class.get(c.wanted, 0) + 1
            cats = report.categories.setdefault(c.wanted, [])
            if c.category not in cats:
                cats.append(c.category)
            log.write(json.dumps({"file": str(target.relative_to(output)), "class": c.wanted, "source": source,
                                  "category": c.category, "original": origin}) + "\n")
            if progress:
                progress(source, i + 1, len(candidates))
    return report


def _reachable(source: str, url: str, timeout: float, elsewhere: str) -> None:
    """Fail fast, with one message, when the source's server cannot be reached."""
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DatasetUnavailableError(
            f"{source}: cannot reach {parsed.hostname} ({reason}); {elsewhere}, then run "
            f"`imgengine train download --sources {source} --from DIR`")


def _fetch(url: str, target: Path, timeout: float, source: str) -> None:
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
            shutil.copyfileobj(resp, fh, 1 << 20)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetUnavailableError(f"{source}: cannot fetch {url} ({getattr(exc, 'reason', exc)})")


def _find_one(root: Path, name: str) -> Path | None:
    if (root / name).is_file():
        return root / name
    return next(iter(sorted(root.rglob(name))), None)


def _find_instances(root: Path) -> Path | None:
    found = sorted(root.rglob("instances_*.json"))
    # prefer the validation split (small, what a download gives) and then whatever comes first
    return next((p for p in found if "val" in p.stem), found[0] if found else None)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._") or "item"


def _free_name(path: Path) -> Path:
    n = 1
    while True:
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1
