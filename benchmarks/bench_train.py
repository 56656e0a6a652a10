"""Training pipeline speed in one run: training images/s, export time, and the exported model's inference
throughput through onnxruntime against the same model in PyTorch.

    python benchmarks/bench_train.py [--model resnet18] [--image-size 128] [--per-class 40] [--epochs 2]
                                     [--batch-size 32] [--device auto|cpu|cuda] [--images 256]

The dataset is the generated 4-class scene set (``imgengine.testing.scene_dataset``), the backbone a randomly
initialised timm model (no download; weights do not change the speed). Training throughput counts training
images per second of training-loop time (decode + augmentation + forward/backward; validation excluded).
Inference compares model time only on the same preprocessed batches (the preprocessing is shared and timed
separately), in the same process, PyTorch first and onnxruntime second, after one warm-up batch each. The
accuracy line is on freshly generated images the model never saw (another seed), not the validation split.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from imgengine.analyzers.vision.scene_model import SceneModelRunner  # noqa: E402
from imgengine.testing.scene_dataset import CLASSES, make_scene_dataset  # noqa: E402
from imgengine.training.export import export_model  # noqa: E402
from imgengine.training.train import (  # noqa: E402
    TrainConfig,
    load_checkpoint,
    model_from_checkpoint,
    train_scene_model,
)


def machine() -> str:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (load {load:.1f}), "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--images", type=int, default=256, help="images for the inference comparison")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default); "
                    "1 on a shared, busy machine where spinning OpenMP threads cost more than they give")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        data = make_scene_dataset(root / "data", per_class=args.per_class, size=(320, 240), seed=0)
        print(f"dataset: {4 * args.per_class} images, 4 classes, generated in {time.perf_counter() - t:.1f}s")

        cfg = TrainConfig(dataset=data, output_dir=root / "models", epochs=args.epochs, batch_size=args.batch_size,
                          model=args.model, image_size=args.image_size, device=args.device, workers=args.workers,
                          patience=args.epochs + 1, models_dir=root / "none")
        result = train_scene_model(cfg)
        s = result.summary
        print(f"training: {args.model} @ {args.image_size}px on {s['device']}"
              f"{' (' + s['amp'] + ' autocast)' if s.get('amp') else ''}, {s['train']} train images x "
              f"{result.epochs_run} epochs: {s['train_images_per_second']:,.1f} images/s "
              f"(best val accuracy {result.best_val_accuracy:.3f} at epoch {result.best_epoch})")

        exports = {}
        for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.pt")):
            rep = export_model(result.best_checkpoint, fmt, root / name)
            exports[fmt] = rep
            print(f"export {fmt}: {rep.seconds:.2f}s (parity max |diff| {rep.max_abs_diff:.1e}, "
                  f"batch sizes {rep.batch_sizes})")

        # the same batches for both back-ends
        fresh = make_scene_dataset(root / "fresh", per_class=max(1, args.images // 4), size=(320, 240), seed=99)
        runner = SceneModelRunner(exports["onnx"].output, device=args.device,
                                  threads=args.threads or None)
        from PIL import Image

        paths = [(p, CLASSES.index(p.parent.name)) for p in sorted(fresh.rglob("*.jpg"))]
        t = time.perf_counter()
        x = np.stack([runner.preprocess(Image.open(p)) for p, _ in paths])
        prep = time.perf_counter() - t
        labels = np.array([y for _, y in paths])
        bs = args.batch_size
        model = model_from_checkpoint(load_checkpoint(result.best_checkpoint)).to(runner.device)

        def torch_run(batch):
            with torch.inference_mode():
                return model(torch.from_numpy(batch).to(runner.device)).float().cpu().numpy()

        def timed(fn) -> tuple[float, np.ndarray]:
            fn(x[:bs])  # warm-up
            t0 = time.perf_counter()
            out = np.concatenate([fn(x[i:i + bs]) for i in range(0, len(x), bs)])
            return len(x) / (time.perf_counter() - t0), out

        torch_ips, torch_out = timed(torch_run)
        ort_ips, ort_out = timed(runner.logits)
        acc = float((ort_out.argmax(1) == labels).mean())
        print(f"inference ({len(x)} images, batch {bs}, model time only; preprocessing "
              f"{len(x) / prep:,.0f} images/s): PyTorch {torch_ips:,.1f} images/s, onnxruntime "
              f"({runner.device}) {ort_ips:,.1f} images/s -> x{ort_ips / torch_ips:.2f}; "
              f"max |diff| {float(np.abs(ort_out - torch_out).max()):.1e}")
        print(f"held-out accuracy on {len(x)} fresh images: {acc:.3f} (chance 0.25)")


if __name__ == "__main__":
    main()
