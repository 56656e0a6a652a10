"""A background GPU sampler for runs (the vision stage of ``analyze``; training later).

Started around the work it measures, it reads the GPU every ``interval`` seconds in a daemon thread and
sums the readings up for the run summary: mean/peak utilisation, peak memory, peak temperature and power.
It never fails a run: no driver, no GPU or a GPU that disappears mid-run only shows in the summary.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .monitor import GpuLostError, GpuSample, GpuUnavailableError, NvmlSession

#: below this mean utilisation while the batch stage runs, the GPU waits for its input
STARVED_BELOW_PERCENT = 30.0


def nvml_index(device: str) -> int | None:
    """The NVML index of a torch device name (``cuda``, ``cuda:1``); ``None`` for a CPU device.
    CUDA_VISIBLE_DEVICES renumbers what torch sees; NVML always sees every GPU."""
    if not device.startswith("cuda"):
        return None
    local = int(device.split(":", 1)[1]) if ":" in device else 0
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and all(v.isdigit() for v in visible) and local < len(visible):
        return int(visible[local])
    return local


def summarise(samples: list[GpuSample]) -> dict[str, Any]:
    """Mean/peak figures over the samples of one GPU (None where the GPU did not report a metric)."""
    def values(attr: str) -> list[float]:
        return [v for s in samples if (v := getattr(s, attr)) is not None]

    util = values("utilisation_percent")
    mem = values("memory_used_bytes")
    temp = values("temperature_c")
    power = values("power_watts")
    total = values("memory_total_bytes")
    return {
        "name": samples[0].name if samples else None,
        "index": samples[0].index if samples else None,
        "samples": len(samples),
        "mean_utilisation_percent": round(sum(util) / len(util), 1) if util else None,
        "peak_utilisation_percent": max(util) if util else None,
        "peak_memory_used_bytes": int(max(mem)) if mem else None,
        "memory_total_bytes": int(max(total)) if total else None,
        "peak_temperature_c": max(temp) if temp else None,
        "mean_power_watts": round(sum(power) / len(power), 1) if power else None,
        "peak_power_watts": max(power) if power else None,
        "throttle_reasons": sorted({r for s in samples for r in s.throttle_reasons if r != "idle"}),
    }


def starvation_warning(gpu: dict[str, Any], gpu_decode: bool = False, min_samples: int = 3) -> str | None:
    """The warning to show when the GPU mostly waited while the batch stage ran, else ``None``."""
    mean = gpu.get("mean_utilisation_percent")
    if mean is None or gpu.get("samples", 0) < min_samples or mean >= STARVED_BELOW_PERCENT:
        return None
    decode = ("JPEGs already decode on the GPU (nvJPEG), so check the disk too" if gpu_decode else
              "or decode JPEGs on the GPU (nvJPEG: torchvision built with CUDA)")
    return (f"the GPU was only {mean:.0f} % busy on average while the vision stage ran: the photo loader is "
            f"the bottleneck; give it more loader workers (--workers N) {decode}")


class GpuSampler:
    """``with GpuSampler("cuda:0") as s: ...`` then ``s.summary()``; a no-op for CPU devices."""

    def __init__(self, device: str, interval: float = 0.5, nvml: Any | None = None):
        self.device = device
        self.interval = interval
        self.samples: list[GpuSample] = []
        self.status = "off"            # off | sampling | unavailable | lost | stopped
        self.message: str | None = None
        self._nvml = nvml
        self._session: NvmlSession | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GpuSampler:
        index = nvml_index(self.device)
        if index is None:
            return self
        try:
            self._session = NvmlSession(self._nvml, device=index).__enter__()
            self.samples.extend(self._session.sample())  # one reading now: even a short stage has one
        except GpuUnavailableError as exc:
            self._close_session()
            self.status, self.message = "unavailable", str(exc)
            return self
        except GpuLostError as exc:
            self._close_session()
            self.status, self.message = "lost", str(exc)
            return self
        self.status = "sampling"
        self._thread = threading.Thread(target=self._run, name="imgengine-gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.extend(self._session.sample())
            except GpuLostError as exc:
                self.status, self.message = "lost", str(exc)
                return
            except Exception as exc:  # noqa: BLE001 - the sampler never takes the run down
                self.status, self.message = "lost", f"GPU sampling stopped: {type(exc).__name__}: {exc}"
                return

    def stop(self) -> dict[str, Any] | None:
        """Stop sampling; the summary (``None`` for a CPU device)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2.0, 4 * self.interval))
        self._close_session()
        if self.status == "sampling":
            self.status = "stopped"
        return self.summary()

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.__exit__(None, None, None)
            self._session = None

    def summary(self) -> dict[str, Any] | None:
        if self.status == "off":
            return None
        out = summarise(list(self.samples))
        if self.status in ("unavailable", "lost"):
            out["status"] = self.status
            out["message"] = self.message
        return out

    def __enter__(self) -> GpuSampler:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
