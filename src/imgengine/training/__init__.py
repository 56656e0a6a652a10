"""Training: inventory and gaps → public data → augmentation → a scene classifier → ONNX/TorchScript export.

Every module imports torch/timm/matplotlib inside the functions that need them, so `imgengine --help` and the
inventory of a collection stay fast on machines without the training extra (`pip install 'imgengine[training]'`).
"""
