"""The batch stage's loader: photo files into model inputs, one decode shared by every batch analyzer,
done in loader workers (any :class:`~imgengine.analyzers.base.BatchAnalyzer` is fed from here).

Each batch analyzer declares an :class:`imgengine.analyzers.base.InputSpec` (a centre crop, CLIP-style, or
a long-side resize with a pixel mask, DETR-style); the loader spec holds them by analyzer name.

Workers decode with JPEG draft mode straight to about the largest size a model needs (never the full
12 MP), apply the EXIF orientation, and produce uint8 tensors: CLIP's centre crop and DETR's resized
image. uint8 crosses the process boundary and the PCIe bus (pinned, non_blocking) at a quarter of the
size of float32; scaling and normalisation run on the device.

On CUDA with torchvision importable, JPEGs can instead travel as compressed bytes and be decoded on the
GPU with nvJPEG (:func:`gpu_decode`); any file nvJPEG rejects falls back to the CPU decode here.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..analyzers.base import InputSpec as ModelInput
from ..core.decode import decode_for_analysis
from ..core.photo import Photo, display_path


@dataclass(frozen=True)
class InputSpec:
    """What the loader prepares from each photo's one decode: ``inputs`` = ((key, ModelInput), ...), one
    per batch analyzer (the key is the analyzer's name). Picklable, sent once to every loader worker."""

    max_pixels: int = 180_000_000
    jpeg_bytes: bool = False           # send JPEGs as compressed bytes (GPU decode) instead of pixels
    inputs: tuple[tuple[str, ModelInput], ...] = ()

    @property
    def entries(self) -> tuple[tuple[str, ModelInput], ...]:
        return self.inputs

    @property
    def decode_size(self) -> int:
        """Long side to decode to: the largest any input needs (a crop: a 2:1 image's shortest-edge resize)."""
        return max([s.decode_size for _, s in self.entries] + [32])


@dataclass(frozen=True)
class PhotoRef:
    """A catalogued photo the batch stage will look at."""

    photo_id: int
    path: Path
    size: int
    mtime_ns: int
    format: str


def clip_crop(img: Image.Image, resize: int, crop: int, resample: str = "bicubic") -> Image.Image:
    """CLIP's preprocessing: bicubic resize of the shortest edge, then a centre crop."""
    w, h = img.size
    scale = resize / min(w, h)
    nw, nh = max(crop, round(w * scale)), max(crop, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), _RESAMPLE[resample])
    left, top = (nw - crop) // 2, (nh - crop) // 2
    return img.crop((left, top, left + crop, top + crop))


def detr_resize(img: Image.Image, long_side: int, resample: str = "bilinear") -> Image.Image:
    w, h = img.size
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img if size == (w, h) else img.resize(size, _RESAMPLE[resample])


_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def _to_chw(img: Image.Image):
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)))


def prepare_pixels(img: Image.Image, spec: InputSpec) -> dict[str, Any]:
    """One uint8 CHW tensor per input of ``spec`` from one upright RGB image."""
    out: dict[str, Any] = {}
    for key, s in spec.entries:
        if s.crop:
            out[key] = _to_chw(clip_crop(img, s.resize or s.size, s.size, s.resample))
        else:
            out[key] = _to_chw(detr_resize(img, s.size, s.resample))
    return out


def load_item(ref: PhotoRef, spec: InputSpec) -> dict[str, Any]:
    """One loader item: the model tensors, the upright size (for DETR boxes), or the error."""
    item: dict[str, Any] = {"ref": ref, "error": None, "upright": None}
    if not spec.entries:  # only pixel-less analyzers (they read other analyzers' results): no decode
        return item
    try:
        photo = Photo(ref.path, ref.size, ref.mtime_ns, ref.format)
        if spec.jpeg_bytes and ref.format == "jpeg":
            data = ref.path.read_bytes()
            with Image.open(io.BytesIO(data)) as probe:  # header only: size, orientation, bomb guard
                w, h = probe.size
                if w * h > spec.max_pixels:
                    raise ValueError(f"declares {w}x{h} pixels, over the max_pixels limit")
                orientation = int(probe.getexif().get(0x0112, 1) or 1)
            item.update(jpeg=data, orientation=orientation if 1 <= orientation <= 8 else 1)
            item["upright"] = (h, w) if item["orientation"] in (5, 6, 7, 8) else (w, h)
            return item
        decoded = decode_for_analysis(photo, None, spec.decode_size, spec.max_pixels)
        item["upright"] = decoded.upright_size
        item.update(prepare_pixels(decoded.image, spec))
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the stage
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        item["error"] = text if display_path(ref.path) in text else f"{display_path(ref.path)}: {text}"
    return item


class PhotoDataset:
    """A map-style dataset over photo refs, for ``torch.utils.data.DataLoader`` worker processes."""

    def __init__(self, refs: list[PhotoRef], spec: InputSpec):
        self.refs = refs
        self.spec = spec

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return load_item(self.refs[index], self.spec)


def collate(items: list[dict[str, Any]], crop_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per input key: stack the crops, or pad the resized images to the batch's largest with a pixel mask
    (``<key>_mask``). Rows follow ``pixel_index`` (the CPU-decoded items)."""
    import torch

    good = [it for it in items if it["error"] is None and "jpeg" not in it]
    batch: dict[str, Any] = {"items": items, "pixel_index": [i for i, it in enumerate(items)
                                                            if it["error"] is None and "jpeg" not in it]}
    if not good:
        return batch
    for key in [k for k in good[0] if k not in _ITEM_KEYS]:
        tensors = [it.pop(key) for it in good]
        if key in crop_keys:
            batch[key] = torch.stack(tensors)
        else:
            batch[key], batch[f"{key}_mask"] = pad_batch(tensors)
    return batch


_ITEM_KEYS = {"ref", "error", "upright", "jpeg", "orientation"}


def pad_batch(images: list) -> tuple[Any, Any]:
    import torch

    hmax = max(t.shape[1] for t in images)
    wmax = max(t.shape[2] for t in images)
    pixels = torch.zeros((len(images), 3, hmax, wmax), dtype=images[0].dtype, device=images[0].device)
    mask = torch.zeros((len(images), hmax, wmax), dtype=torch.long, device=images[0].device)
    for i, t in enumerate(images):
        pixels[i, :, : t.shape[1], : t.shape[2]] = t
        mask[i, : t.shape[1], : t.shape[2]] = 1
    return pixels, mask


# -- GPU JPEG decoding (nvJPEG through torchvision) ----------------------------------------------------

def nvjpeg_available(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    try:
        import torchvision.io  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: decode on the CPU
        return False
    return True


def _orient(t, orientation: int):
    import torch

    # t is CHW; EXIF orientations as rotations/flips of the stored image
    if orientation == 2:
        return torch.flip(t, [2])
    if orientation == 3:
        return torch.flip(t, [1, 2])
    if orientation == 4:
        return torch.flip(t, [1])
    if orientation == 5:
        return t.transpose(1, 2)
    if orientation == 6:
        return torch.flip(t.transpose(1, 2), [2])
    if orientation == 7:
        return torch.flip(t.transpose(1, 2), [1, 2])
    if orientation == 8:
        return torch.flip(t.transpose(1, 2), [1])
    return t


def _gpu_resize(t, size: tuple[int, int], mode: str):
    import torch.nn.functional as F

    x = t.unsqueeze(0).float()
    x = F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False)
    return x.clamp_(0, 255).round_().to(t.dtype).squeeze(0)


def gpu_prepare(t, spec: InputSpec) -> dict[str, Any]:
    """Every input of ``spec`` from one upright CHW uint8 image already on the GPU."""
    out: dict[str, Any] = {}
    h, w = t.shape[1], t.shape[2]
    for key, s in spec.entries:
        if s.crop:
            resize, crop = s.resize or s.size, s.size
            scale = resize / min(w, h)
            nh, nw = max(crop, round(h * scale)), max(crop, round(w * scale))
            r = _gpu_resize(t, (nh, nw), s.resample)
            top, left = (nh - crop) // 2, (nw - crop) // 2
            out[key] = r[:, top:top + crop, left:left + crop]
        else:
            scale = s.size / max(w, h)
            out[key] = _gpu_resize(t, (max(1, round(h * scale)), max(1, round(w * scale))), s.resample)
    return out


def gpu_decode(items: list[dict[str, Any]], spec: InputSpec, device: str) -> None:
    """Decode the JPEG-bytes items of a batch on the GPU in place; CPU fallback per file."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    todo = [it for it in items if it["error"] is None and "jpeg" in it]
    if not todo:
        return
    datas = [torch.frombuffer(bytearray(it["jpeg"]), dtype=torch.uint8) for it in todo]
    try:
        decoded = decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)
    except Exception:  # noqa: BLE001 - one odd JPEG in the batch: go file by file
        decoded = []
        for d in datas:
            try:
                decoded.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
            except Exception:  # noqa: BLE001 - CMYK, lossless, broken: the CPU decoder decides
                decoded.append(None)
    for it, img in zip(todo, decoded, strict=False):
        data = it.pop("jpeg")
        if img is not None:
            it.update(gpu_prepare(_orient(img, it["orientation"]), spec))
            continue
        ref: PhotoRef = it["ref"]
        cpu_spec = dataclasses.replace(spec, jpeg_bytes=False)
        try:
            photo = Photo(ref.path, ref.size, ref.mtime_ns, ref.format)
            dec = decode_for_analysis(photo, data, cpu_spec.decode_size, cpu_spec.max_pixels)
            it["upright"] = dec.upright_size
            it.update({k: v.to(device) for k, v in prepare_pixels(dec.image, cpu_spec).items()})
        except Exception as exc:  # noqa: BLE001
            it["error"] = f"{display_path(ref.path)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


