"""Randomly initialised CLIP and DETR folders, saved exactly like downloaded ones.

Used by the tests (tiny sizes, seconds on a CPU) and by ``benchmarks/bench_vision.py --real-size``
(ViT-B/32 CLIP and DETR ResNet-50 architectures) so that the real loading and inference code is
exercised on machines without internet. The weights are random: the outputs mean nothing, the speed
and the plumbing are real. DETR uses transformers' own ResNet backbone (no timm/torchvision needed).
"""

from __future__ import annotations

import json
from pathlib import Path

# A byte-level BPE vocabulary with no merges: every character is a token. Enough for a CLIP tokenizer
# to run; real checkpoints bring their own 49,408-token vocabulary.
_SPECIAL = ("<|startoftext|>", "<|endoftext|>")

COCO_SAMPLE = {0: "N/A", 1: "person", 2: "bicycle", 3: "car", 17: "cat", 18: "dog"}


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=False))


def _write_tokenizer_files(folder: Path) -> dict[str, int]:
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    for s in _SPECIAL:
        vocab[s] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return vocab


def build_clip(folder: Path, real_size: bool = False, seed: int = 0) -> Path:
    """Save a random CLIP (ViT-B/32 shapes when ``real_size``, else tiny) with its processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(folder)
    tok_dir = folder / "_tokenizer_src"
    vocab = _write_tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"))
    ids = dict(bos_token_id=vocab[_SPECIAL[0]], eos_token_id=vocab[_SPECIAL[1]], pad_token_id=vocab[_SPECIAL[1]])
    if real_size:
        config = CLIPConfig(text_config=dict(vocab_size=49408, **ids), vision_config=dict(patch_size=32),
                            projection_dim=512)
        image_size = 224
    else:
        config = CLIPConfig(
            text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, max_position_embeddings=77, **ids),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=32, patch_size=8),
            projection_dim=16)
        image_size = 32
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": image_size},
                                           crop_size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return folder


def build_detr(folder: Path, real_size: bool = False, seed: int = 0) -> Path:
    """Save a random DETR (ResNet-50 backbone when ``real_size``, else tiny) with its image processor."""
    import torch
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    folder = Path(folder)
    if real_size:
        backbone = ResNetConfig(out_features=["stage4"])                 # ResNet-50
        config = DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone,
                            num_labels=91)
        size = {"shortest_edge": 800, "longest_edge": 1333}
    else:
        backbone = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                layer_type="basic", out_features=["stage2"])
        config = DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone,
                            d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10,
                            id2label=dict(COCO_SAMPLE), label2id={v: k for k, v in COCO_SAMPLE.items()})
        size = {"shortest_edge": 64, "longest_edge": 96}
    torch.manual_seed(seed)
    model = DetrForObjectDetection(config).eval()
    model.save_pretrained(folder)
    DetrImageProcessor(size=size).save_pretrained(folder)
    return folder
