"""NVIDIA GPU metrics through NVML (nvidia-ml-py, imported as ``pynvml``): one-off samples for
``imgengine gpu-monitor``, a background sampler for runs, and the CPU thread policy of the batch stage."""
