"""A small fake of the nvidia-ml-py (``pynvml``) calls imgengine uses: the hardware boundary is the one
place the project accepts a fake. Errors are the real ``pynvml.NVMLError`` classes, so the code under
test sees exactly what the driver would raise (``NVMLError(12)`` is ``NVMLError_LibraryNotFound``)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pynvml

NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST


def gpu(name: str = "NVIDIA H100 80GB HBM3", util: int = 87, mem_util: int = 40, used: int = 30 * 2**30,
        total: int = 80 * 2**30, temp: int = 61, power_mw: int = 412_345, limit_mw: int = 700_000,
        sm: int = 1980, mem_clock: int = 2619, fan: int | None = None, tx_kb: int = 2048, rx_kb: int = 1_500_000,
        reasons: int = 0x4, processes: tuple = ((4242, "python", 29 * 2**30),)) -> dict[str, Any]:
    """One fake GPU; ``None`` for a metric makes its getter raise NVML_ERROR_NOT_SUPPORTED (as a data-centre
    card does for fans)."""
    return dict(name=name, util=util, mem_util=mem_util, used=used, total=total, temp=temp, power_mw=power_mw,
                limit_mw=limit_mw, sm=sm, mem_clock=mem_clock, fan=fan, tx_kb=tx_kb, rx_kb=rx_kb,
                reasons=reasons, processes=processes, lost=False)


class FakeNvml:
    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
    NVML_PCIE_UTIL_TX_BYTES = pynvml.NVML_PCIE_UTIL_TX_BYTES
    NVML_PCIE_UTIL_RX_BYTES = pynvml.NVML_PCIE_UTIL_RX_BYTES

    def __init__(self, gpus: list[dict[str, Any]] | None = None, init_error: int | None = None,
                 count_error: int | None = None, driver: str = "550.54.15"):
        self.gpus = gpus if gpus is not None else [gpu()]
        self.init_error = init_error
        self.count_error = count_error
        self.driver = driver
        self.inits = 0
        self.shutdowns = 0
        self.samples_read = threading.Event()  # set each time a name is read (one per sample per GPU)

    # -- lifecycle
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error is not None:
            raise pynvml.NVMLError(self.count_error)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    # -- getters
    def _get(self, h: int, key: str) -> Any:
        g = self.gpus[h]
        if g["lost"]:
            raise pynvml.NVMLError(GPU_IS_LOST)
        if g[key] is None:
            raise pynvml.NVMLError(NOT_SUPPORTED)
        return g[key]

    def nvmlDeviceGetName(self, h: int) -> str:
        name = self._get(h, "name")
        self.samples_read.set()
        return name

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=self._get(h, "util"), memory=self._get(h, "mem_util"))

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        used, total = self._get(h, "used"), self._get(h, "total")
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._get(h, "temp")

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._get(h, "power_mw")

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self._get(h, "limit_mw")

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int:
        return self._get(h, "sm" if clock == self.NVML_CLOCK_SM else "mem_clock")

    def nvmlDeviceGetFanSpeed(self, h: int) -> int:
        return self._get(h, "fan")

    def nvmlDeviceGetPcieThroughput(self, h: int, counter: int) -> int:
        return self._get(h, "tx_kb" if counter == self.NVML_PCIE_UTIL_TX_BYTES else "rx_kb")

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return self._get(h, "reasons")

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list:
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, _, mem in self._get(h, "processes")]

    def nvmlSystemGetProcessName(self, pid: int) -> bytes:
        for g in self.gpus:
            for p, name, _ in g["processes"]:
                if p == pid:
                    return name.encode()
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
