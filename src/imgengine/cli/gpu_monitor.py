"""`imgengine gpu-monitor`: a live table of every NVIDIA GPU (NVML), JSON lines for scripts, a log file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from .common import console, err_console, handle_errors


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f}"


def _rate(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e9:.2f} GB/s" if n >= 1e9 else f"{n / 1e6:.1f} MB/s"


def _or_dash(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def render(samples: list, driver: str | None) -> Any:
    """The rich table of GPUs, and one of the processes using them."""
    from rich.console import Group
    from rich.table import Table

    gpus = Table(title=f"NVIDIA GPUs (driver {driver or '?'}) — {time.strftime('%H:%M:%S')}", title_justify="left")
    for col in ("#", "name", "util", "memory MiB", "temp", "power W", "SM/mem MHz", "fan", "PCIe tx/rx",
                "throttle"):
        gpus.add_column(col, justify="right" if col not in ("name", "throttle") else "left", overflow="fold")
    procs = Table(title="processes", title_justify="left")
    for col in ("gpu", "pid", "process", "memory MiB"):
        procs.add_column(col, justify="left" if col == "process" else "right", overflow="fold")
    for s in samples:
        util = s.utilisation_percent
        color = "red" if util is not None and util < 30 else "green"
        gpus.add_row(
            str(s.index), s.name,
            f"[{color}]{util} %[/]" if util is not None else "-",
            f"{_mib(s.memory_used_bytes)} / {_mib(s.memory_total_bytes)}",
            _or_dash(s.temperature_c, " °C"),
            f"{_or_dash(s.power_watts)} / {_or_dash(s.power_limit_watts)}",
            f"{_or_dash(s.sm_clock_mhz)} / {_or_dash(s.memory_clock_mhz)}",
            _or_dash(s.fan_percent, " %"),
            f"{_rate(s.pcie_tx_bytes_per_s)} / {_rate(s.pcie_rx_bytes_per_s)}",
            ", ".join(s.throttle_reasons) or "-",
        )
        for p in s.processes:
            procs.add_row(str(s.index), str(p.pid), p.name, _mib(p.memory_bytes))
    return Group(gpus, procs) if procs.row_count else gpus


def _json_line(sample: Any) -> str:
    return json.dumps(sample.to_dict(), ensure_ascii=False)


def register(app: typer.Typer) -> None:
    @app.command("gpu-monitor")
    @handle_errors
    def gpu_monitor(
        interval: float = typer.Option(1.0, "--interval", "-i", min=0.05, help="Seconds between samples."),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON line per GPU per sample."),
        log: Path | None = typer.Option(None, "--log", dir_okay=False,
                                        help="Append the samples to this file as JSON lines."),
        once: bool = typer.Option(False, "--once", help="Print one sample and exit."),
        count: int = typer.Option(0, "--count", "-n", min=0, help="Stop after this many samples (0: until Ctrl-C)."),
        device: int | None = typer.Option(None, "--device", "-d", min=0, help="Only this GPU (NVML index)."),
    ) -> None:
        """Watch NVIDIA GPUs: utilisation, memory, temperature, power, clocks, fan, PCIe, throttling, processes."""
        from ..gpu.monitor import GpuLostError, GpuUnavailableError, NvmlSession

        try:
            session = NvmlSession(device=device).__enter__()
        except GpuUnavailableError as exc:
            # --once is a question ("what GPUs are there?"): no GPU is an answer. The live view cannot work.
            err_console.print(f"[yellow]gpu-monitor:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(0 if once else 1)
        log_fh = None
        try:
            if log is not None:
                try:
                    log_fh = open(log, "a", encoding="utf-8")
                except OSError as exc:
                    err_console.print(f"[bold red]error:[/] cannot write {log}: {exc.strerror or exc}")
                    raise typer.Exit(1)
            limit = 1 if once else count
            done = 0
            live = None
            if not json_out and not once and console.is_terminal:  # piped: one table per sample instead
                from rich.live import Live

                live = Live(console=console.get(), auto_refresh=False, transient=False)
                live.start()
            try:
                while True:
                    samples = session.sample()
                    done += 1
                    if log_fh is not None:
                        log_fh.writelines(_json_line(s) + "\n" for s in samples)
                        log_fh.flush()
                    if json_out:
                        sys.stdout.write("".join(_json_line(s) + "\n" for s in samples))
                        sys.stdout.flush()
                    elif live is not None:
                        live.update(render(samples, session.driver), refresh=True)
                    else:
                        console.print(render(samples, session.driver))
                    if limit and done >= limit:
                        break
                    time.sleep(interval)
            except GpuLostError as exc:
                if live is not None:
                    live.stop()
                    live = None
                err_console.print(f"[bold red]gpu-monitor:[/] {exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(1)
            except KeyboardInterrupt:  # Ctrl-C is how a live view ends
                pass
            finally:
                if live is not None:
                    live.stop()
        finally:
            if log_fh is not None:
                log_fh.close()
            session.__exit__(None, None, None)
