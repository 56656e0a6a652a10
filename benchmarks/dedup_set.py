"""The labelled near-duplicate set the dedup benchmark is tuned and scored on.

Sources ("originals") are generated scenes (gradient sky, textured ground, shapes, noise, text) and every
usable photo of ``../shared/corpus`` (JPEG and HEIC, upright, at most 1400 px): photos of 2000 px and more
are cut into a 2x2 grid of non-overlapping regions, each its own source -- neighbouring regions of a sky
or a wall are the low-texture hard negatives a flat area invites. Each source gets every kind of copy a
family archive holds (positives, ``EDIT_KINDS``); hard negatives are burst frames (generated: camera
shift + subject motion + fresh noise; real: two windows of a big photo a few percent apart, slightly
rotated, fresh noise), overlapping tiles of one panorama, the regions above, and the corpus's
HDR-on/HDR-off pairs.

Every item carries a ``split`` key -- the photo it comes from (a scene, a corpus file) -- so that a
benchmark can put all of one photo's copies, regions and bursts in the same half (``LabelledSet.split``).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps


def _find_corpus() -> Path:
    """``shared/corpus`` beside the checkout (or beside a folder above it: worktrees sit deeper)."""
    here = Path(__file__).resolve()
    for parent in here.parents[1:]:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared" / "corpus"
    return here.parents[1] / ".." / "shared" / "corpus"


CORPUS = _find_corpus()

EDIT_KINDS = ("resized", "recompressed", "png", "palette_png", "webp", "avif", "heic", "crop", "crop_asym",
              "crop_resize", "brightness", "contrast", "overlay", "exif_rotated", "pixel_rotated", "screenshot",
              "turned", "mirrored")
CROP_KINDS = ("crop", "crop_asym", "crop_resize", "screenshot")


@dataclass
class Item:
    path: Path
    group: str          # originals and their copies share a group; different photos never do
    kind: str           # "original", an EDIT_KINDS entry, "burst", "burst-untimed", "tile", "hdr"
    split: str = ""     # the photo it derives from: all items of one split key go to the same half
    lowtex: bool = False  # a low-texture source (sky, wall): few grey levels of detail


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

    def split(self, seed: int = 0) -> tuple[LabelledSet, LabelledSet]:
        """(tuning half, held-out half) by split key: no photo's copies, regions or bursts in both."""
        keys = sorted({it.split or it.group for it in self.items})
        random.Random(seed).shuffle(keys)
        tune_keys = set(keys[: len(keys) // 2])
        tune, held = LabelledSet(), LabelledSet()
        for it in self.items:
            (tune if (it.split or it.group) in tune_keys else held).items.append(it)
        return tune, held


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
    elif kind == "crop":
        # 2-8 % of the short side off every side (a phone's crop tool, a "remove border")
        c = int(min(w, h) * rng.uniform(0.02, 0.08))
        path = out.with_suffix(".jpg")
        img.crop((c, c, w - c, h - c)).save(path, quality=90)
    elif kind == "crop_asym":
        # 2-8 % off each side, every side its own amount (some none): straightened or re-framed
        cuts = [int(s * rng.choice([0.0, rng.uniform(0.02, 0.08)])) for s in (w, h, w, h)]
        if not any(cuts):
            cuts[rng.randrange(4)] = int(w * 0.06)
        path = out.with_suffix(".jpg")
        img.crop((cuts[0], cuts[1], w - cuts[2], h - cuts[3])).save(path, quality=90)
    elif kind == "crop_resize":
        c = int(min(w, h) * rng.uniform(0.02, 0.06))
        f = rng.uniform(0.4, 0.7)
        cropped = img.crop((c, c, w - c, h - c))
        path = out.with_suffix(".jpg")
        cropped.resize((max(16, int(cropped.width * f)), max(16, int(cropped.height * f))),
                       Image.Resampling.LANCZOS).save(path, quality=85)
    elif kind == "palette_png":
        path = out.with_suffix(".png")
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(path)
    elif kind == "webp":
        path = out.with_suffix(".webp")
        img.save(path, "WEBP", quality=rng.randint(60, 85))
    elif kind == "avif":
        path = out.with_suffix(".avif")
        small = img.resize((int(w * 0.75), int(h * 0.75)), Image.Resampling.LANCZOS)
        small.save(path, "AVIF", quality=rng.randint(50, 70), speed=10)
    elif kind == "pixel_rotated":
        # the "exif_rotated" copy stores the pixels sideways with an EXIF Orientation tag; this one had
        # the rotation applied to its pixels and the tag reset (what editors and many exports do), and
        # was re-encoded. (A picture turned on screen -- shown sideways -- is not a duplicate here.)
        path = out.with_suffix(".jpg")
        img.save(path, quality=88, exif=_exif_bytes(1))
    elif kind == "turned":
        # saved turned by a quarter or half turn *in its pixels*, orientation tag 1 (an editor's "rotate" then
        # export, a scan fed in sideways): upright, it is the same photo
        path = out.with_suffix(".jpg")
        t = rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270])
        img.transpose(t).save(path, quality=rng.randint(80, 92), exif=_exif_bytes(1))
    elif kind == "mirrored":
        # a selfie saved mirrored, or a "flip" in an editor; sometimes also resized
        path = out.with_suffix(".jpg")
        m = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < 0.5:
            f = rng.uniform(0.5, 0.8)
            m = m.resize((max(16, int(w * f)), max(16, int(h * f))), Image.Resampling.LANCZOS)
        m.save(path, quality=rng.randint(80, 92))
    elif kind == "screenshot":
        # the photo shown on a phone at another size: status bar above, buttons below, saved as PNG
        f = rng.uniform(0.5, 0.8)
        shown = img.resize((max(16, int(w * f)), max(16, int(h * f))), Image.Resampling.BILINEAR)
        bar_t, bar_b = int(shown.height * rng.uniform(0.03, 0.06)), int(shown.height * rng.uniform(0.03, 0.07))
        canvas = Image.new("RGB", (shown.width, shown.height + bar_t + bar_b), (16, 16, 16))
        canvas.paste(shown, (0, bar_t))
        d = ImageDraw.Draw(canvas)
        fs = max(8, bar_t - 4)
        d.text((6, 1), "12:41", fill=(240, 240, 240), font=_font(fs))
        d.text((canvas.width - 6 * fs, 1), "87 %", fill=(240, 240, 240), font=_font(fs))
        y = shown.height + bar_t
        for k in range(3):
            cx = canvas.width * (k + 1) // 4
            d.ellipse([cx - bar_b // 3, y + bar_b // 3, cx + bar_b // 3, y + bar_b - bar_b // 3],
                      outline=(200, 200, 200), width=2)
        path = out.with_suffix(".png")
        canvas.save(path)
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

_SKIP = ("invalid", "orientation", "hdr", "corrupted", "tiff", "BlueSquare", "PaintTool")
BIG = 2000          # long side from which a corpus photo is cut into regions
MAX_SIDE = 1400     # sources are at most this size (1-2 MP)


def _load(p: Path, max_side: int | None = None) -> Image.Image | None:
    try:
        with Image.open(p) as im:
            im.draft("RGB", (4000, 4000))
            im = ImageOps.exif_transpose(im).convert("RGB")
            if max_side:
                im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            return im.copy()
    except (OSError, ValueError, SyntaxError):   # broken corpus files are not sources
        return None


def _texture(im: Image.Image) -> float:
    """Mean gradient magnitude of the 64-px grey image: low for sky, walls, flat surfaces."""
    g = np.asarray(im.convert("L").resize((64, 64), Image.Resampling.BOX), np.float32)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


LOWTEX = 4.0  # _texture below this: a low-texture source


def corpus_sources(limit: int = 10_000) -> tuple[list[tuple[str, str, Image.Image]], list[tuple[str, Image.Image]]]:
    """([(name, split key, image)], [(split key, full image of a big photo)]) from the corpus."""
    if not CORPUS.is_dir():
        return [], []
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover
        pass
    paths = sorted(p for p in CORPUS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".heic", ".heif")
                   and not any(s in str(p.relative_to(CORPUS)) for s in _SKIP))
    sources, bigs = [], []
    for p in paths:
        if len(sources) >= limit:
            break
        im = _load(p)
        if im is None or min(im.size) < 300 or _texture(im) < 0.5:
            continue     # unreadable, tiny, or blank (a black frame is no photo to copy)
        # no dots in names: ``with_suffix`` would cut "HMD_Nokia_8.3_5G" at the first one
        key = "c_" + p.stem.replace(" ", "_").replace(".", "_") + \
            ("_heif" if p.suffix.lower() in (".heic", ".heif") else "")
        if max(im.size) >= BIG:
            w, h = im.size
            for r in range(2):
                for c in range(2):
                    reg = im.crop((c * w // 2, r * h // 2, (c + 1) * w // 2, (r + 1) * h // 2))
                    reg.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                    sources.append((f"{key}_r{r}{c}", key, reg))
            small = im.copy()
            small.thumbnail((2400, 2400), Image.Resampling.LANCZOS)
            bigs.append((key, small))
        else:
            im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            sources.append((key, key, im))
    return sources, bigs


def _real_burst(im: Image.Image, rng: random.Random, frame: int) -> Image.Image:
    """A frame of a hand-held burst: a window of half the photo, moved 1-3 % and turned < 1 degree
    between frames, exposure and sensor noise fresh."""
    w, h = im.size
    ww, hh = w // 2, h // 2
    dx = int(w * rng.uniform(0.01, 0.03) * rng.choice([-1, 1])) * frame
    dy = int(h * rng.uniform(0.0, 0.015) * rng.choice([-1, 1])) * frame
    x0, y0 = w // 4 + dx, h // 4 + dy
    turned = im.rotate(rng.uniform(-0.8, 0.8) * frame, resample=Image.Resampling.BILINEAR,
                       center=(x0 + ww / 2, y0 + hh / 2))
    win = turned.crop((x0, y0, x0 + ww, y0 + hh))
    win.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    arr = np.asarray(win, np.float32) * rng.uniform(0.97, 1.03)
    arr = arr + np.random.default_rng(rng.randint(0, 10**9)).normal(0, 2.5, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _write_copies(job: tuple) -> list[tuple[str, str]]:
    """Worker: write one source and its copies; [(path, kind)]."""
    dest, name, im, kinds, seed = job
    rng = random.Random(seed)
    path = Path(dest) / f"{name}.jpg"
    im.save(path, quality=95, exif=_exif_bytes(1, subsec="000"))
    out = [(str(path), "original")]
    for kind in kinds:
        out.append((str(make_copy(im, kind, rng, Path(dest) / f"{name}__{kind}")), kind))
    return out


def build_set(dest: Path, n_generated: int = 24, n_corpus: int = 10_000, seed: int = 7,
              kinds: tuple[str, ...] = EDIT_KINDS, workers: int = 1) -> LabelledSet:
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    ls = LabelledSet()
    jobs = []
    scenes = []
    meta: dict[str, tuple[str, bool]] = {}
    for i in range(n_generated):
        p = _scene_params(rng)
        scenes.append(p)
        name = f"gen{i:03d}"
        im = render_scene(p, noise_seed=rng.randint(0, 10**9))
        jobs.append((str(dest), name, im, kinds, rng.randint(0, 10**9)))
        meta[name] = (f"gen{i:03d}", _texture(im) < LOWTEX)
    real, bigs = corpus_sources(n_corpus) if n_corpus else ([], [])
    for name, key, im in real:
        jobs.append((str(dest), name, im, kinds, rng.randint(0, 10**9)))
        meta[name] = (key, _texture(im) < LOWTEX)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            written = list(ex.map(_write_copies, jobs, chunksize=2))
    else:
        written = [_write_copies(j) for j in jobs]
    for job, files in zip(jobs, written, strict=True):
        name = job[1]
        key, low = meta[name]
        for path, kind in files:
            ls.items.append(Item(Path(path), name, kind, key, low))
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
            ls.items.append(Item(path, f"burst{i:03d}_{f}", "burst" if timed else "burst-untimed", f"gen{i:03d}"))
    # hard negatives 2: two overlapping tiles of one panorama
    for i, p in enumerate(scenes[n_generated // 2:]):
        pano = render_scene(p, size=(2000, 700), noise_seed=i)
        for t, x0 in enumerate((0, 800)):
            path = dest / f"pano{i:03d}_tile{t}.jpg"
            pano.crop((x0, 0, x0 + 1200, 700)).save(path, quality=92)
            ls.items.append(Item(path, f"pano{i:03d}_tile{t}", "tile", f"gen{i + n_generated // 2:03d}"))
    # hard negatives 3: real bursts -- two frames from the middle of each big corpus photo (overlapping
    # its four regions by a quarter each: different pictures of them too); half keep capture times
    for i, (key, im) in enumerate(bigs):
        timed = i % 2 == 0
        for f in range(0, 2):
            fr = _real_burst(im, rng, f)
            path = dest / f"{key}_burst{f}.jpg"
            if timed:
                fr.save(path, quality=92, exif=_exif_bytes(1, subsec=f"{250 * f:03d}"))
            else:
                fr.save(path, quality=92)
            ls.items.append(Item(path, f"{key}_burst{f}", "burst" if timed else "burst-untimed", key,
                                 _texture(fr) < LOWTEX))
    # hard negatives 4: HDR-on / HDR-off shots of one scene (real photos)
    hdr = CORPUS / "jpg" / "hdr"
    if hdr.is_dir():
        for p in sorted(hdr.glob("*.jpg")):
            ls.items.append(Item(p, f"hdr_{p.stem}", "hdr", "hdr_" + p.stem.split("_")[0]))
    return ls


def save_manifest(ls: LabelledSet, path: Path) -> None:
    import json

    path.write_text(json.dumps([{"path": str(it.path), "group": it.group, "kind": it.kind, "split": it.split,
                                 "lowtex": it.lowtex} for it in ls.items]))


def load_manifest(path: Path) -> LabelledSet | None:
    import json

    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    items = [Item(Path(r["path"]), r["group"], r["kind"], r["split"], r["lowtex"]) for r in rows]
    return LabelledSet(items) if all(it.path.exists() for it in items) else None


def encode_bytes(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
