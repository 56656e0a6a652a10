"""One sample of every metric ``gpu-monitor`` shows, read through NVML.

NVML is the hardware boundary: everything here takes the ``pynvml`` module (nvidia-ml-py) as an argument
(``nvml``), so tests pass a small fake of the calls used. A metric the GPU does not report (fans on a
data-centre card, power on some laptops) is ``None``; a GPU that disappears raises :class:`GpuLostError`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ImgEngineError

#: NVML_ERROR_* codes that mean "this metric is not available here", not "something broke"
_METRIC_UNAVAILABLE = (3, 4, 13)  # NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND
_GPU_LOST = (15, 19)  # GPU_IS_LOST, RESET_REQUIRED

#: clock-event (throttle) reason bits -> short names, from nvml.h
THROTTLE_REASONS = (
    (0x1, "idle"), (0x2, "app-clocks"), (0x4, "sw-power-cap"), (0x8, "hw-slowdown"), (0x10, "sync-boost"),
    (0x20, "sw-thermal"), (0x40, "hw-thermal"), (0x80, "hw-power-brake"), (0x100, "display-clocks"),
)


class GpuUnavailableError(ImgEngineError):
    """No NVIDIA driver, no NVML library, or no GPU: nothing to monitor."""


class GpuLostError(ImgEngineError):
    """The GPU stopped answering (fell off the bus, was reset) while being sampled."""


def load_nvml() -> Any:
    """The ``pynvml`` module of nvidia-ml-py, or a clear error when the package is missing."""
    try:
        import pynvml
    except ImportError:
        raise GpuUnavailableError("GPU metrics need nvidia-ml-py: pip install 'imgengine[gpu]'")
    return pynvml


def _error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def describe_nvml_error(exc: BaseException) -> str:
    """One line for the user about why NVML cannot be used."""
    code = _error_code(exc)
    if code == 12:  # NVML_ERROR_LIBRARY_NOT_FOUND
        return "no NVIDIA driver found (NVML library not installed); no GPU to monitor"
    if code == 9:  # NVML_ERROR_DRIVER_NOT_LOADED
        return "the NVIDIA driver is not loaded; no GPU to monitor"
    if code == 4:  # NVML_ERROR_NO_PERMISSION
        return "no permission to query the NVIDIA driver (NVML)"
    return f"cannot query the NVIDIA driver: {exc}"


class NvmlSession:
    """``nvmlInit`` .. ``nvmlShutdown`` as a context manager; ``devices`` are (index, handle) pairs."""

    def __init__(self, nvml: Any | None = None, device: int | None = None):
        self.nvml = nvml if nvml is not None else load_nvml()
        self.device = device
        self.devices: list[tuple[int, Any]] = []
        self.driver: str | None = None

    def __enter__(self) -> NvmlSession:
        nv = self.nvml
        try:
            nv.nvmlInit()
        except nv.NVMLError as exc:
            raise GpuUnavailableError(describe_nvml_error(exc))
        try:
            count = nv.nvmlDeviceGetCount()
            if count == 0:
                raise GpuUnavailableError("the NVIDIA driver reports no GPU")
            if self.device is not None and not 0 <= self.device < count:
                raise GpuUnavailableError(f"--device {self.device}: this machine has GPU(s) 0..{count - 1}")
            wanted = [self.device] if self.device is not None else list(range(count))
            self.devices = [(i, nv.nvmlDeviceGetHandleByIndex(i)) for i in wanted]
            self.driver = _text(_optional(nv, nv.nvmlSystemGetDriverVersion))
        except nv.NVMLError as exc:
            self._shutdown()
            raise GpuUnavailableError(describe_nvml_error(exc))
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down a driver that went away is not an error
            pass

    def sample(self) -> list[GpuSample]:
        return [read_sample(self.nvml, handle, index) for index, handle in self.devices]


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str
    memory_bytes: int | None


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU; ``None`` where the GPU does not report a metric."""

    time: float
    index: int
    name: str
    utilisation_percent: int | None
    memory_utilisation_percent: int | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    temperature_c: int | None
    power_watts: float | None
    power_limit_watts: float | None
    sm_clock_mhz: int | None
    memory_clock_mhz: int | None
    fan_percent: int | None
    pcie_tx_bytes_per_s: int | None
    pcie_rx_bytes_per_s: int | None
    throttle_reasons: tuple[str, ...] = ()
    processes: tuple[GpuProcess, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["throttle_reasons"] = list(self.throttle_reasons)
        d["processes"] = [asdict(p) for p in self.processes]
        return d


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _optional(nv: Any, fn: Any, *args: Any) -> Any:
    """Call an NVML getter; ``None`` when the metric is unsupported; :class:`GpuLostError` when the GPU
    is gone. Any other NVML error also reads as "not available" so one odd metric never stops the monitor."""
    try:
        return fn(*args)
    except nv.NVMLError as exc:
        if _error_code(exc) in _GPU_LOST:
            raise GpuLostError(f"the GPU stopped answering: {exc}")
        return None


def throttle_names(mask: int | None) -> tuple[str, ...]:
    if not mask:
        return ()
    return tuple(name for bit, name in THROTTLE_REASONS if mask & bit)


def read_sample(nv: Any, handle: Any, index: int) -> GpuSample:
    """Every metric of one GPU; the name is read first so a lost GPU fails before any partial reading."""
    try:
        name = _text(nv.nvmlDeviceGetName(handle)) or f"GPU {index}"
    except nv.NVMLError as exc:
        if _error_code(exc) in _GPU_LOST:
            raise GpuLostError(f"GPU {index} stopped answering: {exc}")
        name = f"GPU {index}"
    util = _optional(nv, nv.nvmlDeviceGetUtilizationRates, handle)
    mem = _optional(nv, nv.nvmlDeviceGetMemoryInfo, handle)
    power_mw = _optional(nv, nv.nvmlDeviceGetPowerUsage, handle)
    limit_mw = _optional(nv, nv.nvmlDeviceGetEnforcedPowerLimit, handle)
    reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nv.nvmlDeviceGetCurrentClocksThrottleReasons
    tx = _optional(nv, nv.nvmlDeviceGetPcieThroughput, handle, nv.NVML_PCIE_UTIL_TX_BYTES)
    rx = _optional(nv, nv.nvmlDeviceGetPcieThroughput, handle, nv.NVML_PCIE_UTIL_RX_BYTES)
    return GpuSample(
        time=time.time(), index=index, name=name,
        utilisation_percent=int(util.gpu) if util is not None else None,
        memory_utilisation_percent=int(util.memory) if util is not None else None,
        memory_used_bytes=int(mem.used) if mem is not None else None,
        memory_total_bytes=int(mem.total) if mem is not None else None,
        temperature_c=_optional(nv, nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU),
        power_watts=round(power_mw / 1000, 1) if power_mw is not None else None,
        power_limit_watts=round(limit_mw / 1000, 1) if limit_mw is not None else None,
        sm_clock_mhz=_optional(nv, nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM),
        memory_clock_mhz=_optional(nv, nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM),
        fan_percent=_optional(nv, nv.nvmlDeviceGetFanSpeed, handle),
        pcie_tx_bytes_per_s=tx * 1024 if tx is not None else None,  # NVML reports KB/s
        pcie_rx_bytes_per_s=rx * 1024 if rx is not None else None,
        throttle_reasons=throttle_names(_optional(nv, reasons_fn, handle)),
        processes=_processes(nv, handle),
    )


def _processes(nv: Any, handle: Any) -> tuple[GpuProcess, ...]:
    procs = _optional(nv, nv.nvmlDeviceGetComputeRunningProcesses, handle) or []
    out = []
    for p in procs:
        name = _text(_optional(nv, nv.nvmlSystemGetProcessName, p.pid)) or "?"
        used = getattr(p, "usedGpuMemory", None)
        out.append(GpuProcess(int(p.pid), name, int(used) if isinstance(used, int) else None))
    return tuple(out)
