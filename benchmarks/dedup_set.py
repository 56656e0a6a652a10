"""The labelled near-duplicate set the dedup benchmark (and its tuning) is scored on.

Originals are generated scenes (gradient sky, textured ground, shapes, noise, text) and, when present,
the real photos of ``../shared/corpus/jpg``. Each original gets every kind of copy a family archive
holds (positives); hard negatives are burst frames (camera shift + subject motion + fresh noise),
two overlapping tiles of one panorama, and the corpus's HDR-on/HDR-off pairs.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"

EDIT_KINDS = ("resized", "recompressed", "png", "heic", "crop5", "brightness", "contrast", "overlay",
              "exif_rotated")


@dataclass
class Item:
    path: Path
    group: str          # originals and their copies share a group; different photos never do
    kind: str           # "original", an EDIT_KINDS entry, "burst", "burst-untimed", "tile", "hdr"


@dataclass
class LabelledSet:
    items: list[Item] = field(default_factory=list)

    def pairs_truth(self) -> set[tuple[int, int]]:
        by_group: dict[str, list[int]] = {}
        for i, it in enumerate(self.items):
            by_group.setdefault(it.group, []).append(i)
        out = set()
        for idx in by_group.values():
            for a in range(len(idx)):
                for b in range(a + 1, len(idx)):
                    out.add((idx[a], idx[b]))
        return out


# -- generated scenes ------------------------------------------------------------------------------

def _scene_params(rng: random.Random) -> dict:
    n = rng.randint(4, 9)
    shapes = []
    for _ in range(n):
        shapes.append({
            "kind": rng.choice(["ellipse", "rect", "poly"]),
            "x": rng.uniform(0.05, 0.95), "y": rng.uniform(0.35, 0.95),
            "w": rng.uniform(0.05, 0.3), "h": rng.uniform(0.05, 0.3),
            "color": tuple(rng.randint(0, 255) for _ in range(3)),
            "pts": [(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(rng.randint(3, 6))],
        })
    return {
        "sky": (tuple(rng.randint(60, 220) for _ in range(3)), tuple(rng.randint(100, 255) for _ in range(3))),
        "ground": tuple(rng.randint(30, 160) for _ in range(3)),
        "horizon": rng.uniform(0.3, 0.6),
        "texture_seed": rng.randint(0, 10**9),
        "shapes": shapes,
        "text": "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789 ") for _ in range(rng.randint(6, 14))),
        "text_xy": (rng.uniform(0.05, 0.5), rng.uniform(0.1, 0.8)),
        "text_size": rng.randint(28, 60),
        "text_color": tuple(rng.randint(0, 255) for _ in range(3)),
    }


def render_scene(p: dict, size: tuple[int, int] = (1200, 900), shift: tuple[float, float] = (0.0, 0.0),
                 moves: dict[int, tuple[float, float]] | None = None, noise_seed: int = 0,
                 exposure: float = 1.0) -> Image.Image:
    """Render a scene; ``shift`` moves the camera (fraction of the frame), ``moves`` moves shapes."""
    W, H = size
    # render a larger canvas so that the camera can move without empty borders
    pad = 0.1
    CW, CH = int(W * (1 + 2 * pad)), int(H * (1 + 2 * pad))
    yy = np.linspace(0, 1, CH)[:, None, None]
    top, bot = np.array(p["sky"][0], float), np.array(p["sky"][1], float)
    sky = top * (1 - yy) + bot * yy
    canvas = np.repeat(sky, CW, axis=1)
    hz = int(CH * (pad + p["horizon"] * (1 - 2 * pad) / (1 + 2 * pad) * (1 + 2 * pad)) / (1 + 2 * pad))
    trng = np.random.default_rng(p["texture_seed"])
    tex = trng.normal(0, 1, (CH // 8 + 1, CW // 8 + 1))
    tex = np.array(Image.fromarray(((tex - tex.min()) / (np.ptp(tex) + 1e-9) * 255).astype(np.uint8))
                   .resize((CW, CH), Image.Resampling.BICUBIC), float) / 255.0
    ground = np.array(p["ground"], float)[None, None, :] * (0.6 + 0.8 * tex[..., None])
    canvas[hz:] = ground[hz:]
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    moves = moves or {}
    for i, s in enumerate(p["shapes"]):
        dx, dy = moves.get(i, (0.0, 0.0))
        cx = (pad + (s["x"] + dx)) / (1 + 2 * pad) * CW
        cy = (pad + (s["y"] + dy)) / (1 + 2 * pad) * CH
        w, h = s["w"] * W / 2, s["h"] * H / 2
        if s["kind"] == "ellipse":
            draw.ellipse([cx - w, cy - h, cx + w, cy + h], fill=s["color"], outline=(0, 0, 0), width=3)
        elif s["kind"] == "rect":
            draw.rectangle([cx - w, cy - h, cx + w, cy + h], fill=s["color"], outline=(20, 20, 20), width=2)
        else:
            draw.polygon([(cx + px * w, cy + py * h) for px, py in s["pts"]], fill=s["color"])
    font = _font(p["text_size"])
    tx = (pad + p["text_xy"][0]) / (1 + 2 * pad) * CW
    ty = (pad + p["text_xy"][1]) / (1 + 2 * pad) * CH
    draw.text((tx, ty), p["text"], fill=p["text_color"], font=font)
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    x0 = int(CW * pad / (1 + 2 * pad) * (1 + 2 * pad) / (1 + 2 * pad) + shift[0] * W)
    x0 = int(pad * W + shift[0] * W)
    y0 = int(pad * H + shift[1] * H)
    img = img.crop((x0, y0, x0 + W, y0 + H))
    arr = np.asarray(img, float) * exposure
    nrng = np.random.default_rng(noise_seed)
    arr = arr + nrng.normal(0, 4.0, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # pragma: no cover - old Pillow
        return ImageFont.load_default()


# -- copies ------------------------------------------------------------------------------------------

def _exif_bytes(orientation: int = 1, make: str = "BenchCam", subsec: str | None = None) -> bytes:
    exif = {piexif.ExifIFD.DateTimeOriginal: b"2021:06:01 12:00:00"}
    if subsec is not None:
        exif[piexif.ExifIFD.SubSecTimeOriginal] = subsec.encode()
    return piexif.dump({"0th": {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Orientation: orientation},
                        "Exif": exif})


def make_copy(img: Image.Image, kind: str, rng: random.Random, out: Path) -> Path:
    """Write one kind of copy of ``img`` (upright RGB) under ``out`` (without extension)."""
    w, h = img.size
    if kind == "resized":
        f = rng.uniform(0.3, 0.6)
        path = out.with_suffix(".jpg")
        img.resize((max(16, int(w * f)), max(16, int(h * f))), Image.Resampling.LANCZOS).save(path, quality=85)
    elif kind == "recompressed":
        path = out.with_suffix(".jpg")
        small = img.resize((int(w * 0.8), int(h * 0.8)), Image.Resampling.BILINEAR)
        small.save(path, quality=rng.randint(25, 45))
    elif kind == "png":
        path = out.with_suffix(".png")
        img.save(path)
    elif kind == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        path = out.with_suffix(".heic")
        img.save(path, quality=60)
    elif kind == "crop5":
        # about 5 % cut off: from one or two sides, or evenly
        cw, ch = int(w * 0.05), int(h * 0.05)
        mode = rng.choice(["centre", "corner", "side"])
        if mode == "centre":
            box = (cw // 2, ch // 2, w - cw // 2, h - ch // 2)
        elif mode == "corner":
            box = (cw, ch, w, h) if rng.random() < 0.5 else (0, 0, w - cw, h - ch)
        else:
            box = (cw, 0, w, h) if rng.random() < 0.5 else (0, 0, w, h - ch)
        path = out.with_suffix(".jpg")
        img.crop(box).save(path, quality=90)
    elif kind == "brightness":
        path = out.with_suffix(".jpg")
        ImageEnhance.Brightness(img).enhance(rng.choice([0.75, 0.8, 1.2, 1.3])).save(path, quality=90)
    elif kind == "contrast":
        path = out.with_suffix(".jpg")
        e = ImageEnhance.Contrast(img).enhance(rng.choice([0.75, 1.25, 1.35]))
        ImageEnhance.Brightness(e).enhance(rng.uniform(0.95, 1.1)).save(path, quality=90)
    elif kind == "overlay":
        path = out.with_suffix(".jpg")
        o = img.copy()
        d = ImageDraw.Draw(o)
        text = rng.choice(["© Family 2021", "WhatsApp", "@grandma", "SAMPLE"])
        fs = max(12, h // 18)
        font = _font(fs)
        x = rng.choice([int(w * 0.03), int(w * 0.6)])
        y = rng.choice([int(h * 0.03), int(h * 0.88)])
        d.text((x, y), text, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
        o.save(path, quality=90)
    elif kind == "exif_rotated":
        # stored pixels rotated; the EXIF orientation tag makes them upright again
        orientation = rng.choice([3, 6, 8])
        stored = {3: img.transpose(Image.Transpose.ROTATE_180),
                  6: img.transpose(Image.Transpose.ROTATE_90),
                  8: img.transpose(Image.Transpose.ROTATE_270)}[orientation]
        path = out.with_suffix(".jpg")
        stored.save(path, quality=92, exif=_exif_bytes(orientation))
        assert ImageOps.exif_transpose(Image.open(path)).size == img.size
    else:
        raise ValueError(kind)
    return path


# -- the set -----------------------------------------------------------------------------------------

def _corpus_originals(limit: int) -> list[tuple[str, Image.Image]]:
    root = CORPUS / "jpg"
    if not root.is_dir():
        return []
    paths = sorted(p for p in root.glob("*.jpg")) + sorted((root / "gps").glob("*.jpg")) + \
        sorted((root / "mobile").glob("*.jpg")) + sorted((root / "exif-org").glob("*.jpg"))
    out = []
    for p in paths:
        if len(out) >= limit:
            break
        try:
            with Image.open(p) as im:
                im.draft("RGB", (1600, 1600))
                im = ImageOps.exif_transpose(im).convert("RGB")
                if min(im.size) < 120:
                    continue
                im.thumbnail((1600, 1600))
                out.append((p.stem, im.copy()))
        except (OSError, ValueError):  # broken corpus files are not originals
            continue
    return out


def build_set(dest: Path, n_generated: int = 40, n_corpus: int = 30, seed: int = 7,
              kinds: tuple[str, ...] = EDIT_KINDS) -> LabelledSet:
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    ls = LabelledSet()
    originals: list[tuple[str, Image.Image]] = []
    scenes = []
    for i in range(n_generated):
        p = _scene_params(rng)
        scenes.append(p)
        originals.append((f"gen{i:03d}", render_scene(p, noise_seed=rng.randint(0, 10**9))))
    originals += [(f"real_{n}", im) for n, im in _corpus_originals(n_corpus)]
    for name, im in originals:
        path = dest / f"{name}.jpg"
        im.save(path, quality=95, exif=_exif_bytes(1, subsec="000"))
        ls.items.append(Item(path, name, "original"))
        for kind in kinds:
            ls.items.append(Item(make_copy(im, kind, rng, dest / f"{name}__{kind}"), name, kind))
    # hard negatives 1: bursts of generated scenes (camera shift, subject motion, fresh noise). Half carry
    # the camera's EXIF time (the original frame is 12:00:00.000, the next ones .250 and .500 later), as a
    # camera writes them; the other half lost their metadata ("burst-untimed")
    for i, p in enumerate(scenes[: max(1, n_generated // 2)]):
        timed = i % 2 == 0
        for f in range(1, 3):
            moves = {j: (rng.uniform(-0.06, 0.06), rng.uniform(-0.04, 0.04))
                     for j in rng.sample(range(len(p["shapes"])), k=min(2, len(p["shapes"])))}
            shift = (rng.uniform(-0.03, 0.03), rng.uniform(-0.02, 0.02))
            im = render_scene(p, shift=shift, moves=moves, noise_seed=rng.randint(0, 10**9),
                              exposure=rng.uniform(0.97, 1.03))
            path = dest / f"burst{i:03d}_{f}.jpg"
            if timed:
                im.save(path, quality=92, exif=_exif_bytes(1, subsec=f"{250 * f:03d}"))
            else:
                im.save(path, quality=92)
            ls.items.append(Item(path, f"burst{i:03d}_{f}", "burst" if timed else "burst-untimed"))
    # hard negatives 2: two overlapping tiles of one panorama
    for i, p in enumerate(scenes[n_generated // 2:]):
        pano = render_scene(p, size=(2000, 700), noise_seed=i)
        for t, x0 in enumerate((0, 800)):
            path = dest / f"pano{i:03d}_tile{t}.jpg"
            pano.crop((x0, 0, x0 + 1200, 700)).save(path, quality=92)
            ls.items.append(Item(path, f"pano{i:03d}_tile{t}", "tile"))
    # hard negatives 3: HDR-on / HDR-off shots of one scene (real photos)
    hdr = CORPUS / "jpg" / "hdr"
    if hdr.is_dir():
        for p in sorted(hdr.glob("*.jpg")):
            ls.items.append(Item(p, f"hdr_{p.stem}", "hdr"))
    return ls


def encode_bytes(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
