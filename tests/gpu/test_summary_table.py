"""The end-of-run table shows the GPU figures and the CPU thread plan from the summary."""

from __future__ import annotations

from types import SimpleNamespace

from imgengine.cli import common
from imgengine.cli.analyze import print_summary


def _result(vision: dict) -> SimpleNamespace:
    summary = {"files_seen": 3, "analyzed": 3, "files_per_second": 9.0, "workers": 2, "ok": 3, "failed": 0,
               "skipped_unchanged": 0, "stage_seconds": {"decode": 0.5}, "stage_cpu_seconds": {"decode": 0.2},
               "quality_distribution": {}, "vision": vision, "seconds": 1.0, "catalog": "/tmp/c.db"}
    return SimpleNamespace(summary=summary, run_id="r1")


def test_gpu_row_and_thread_plan(monkeypatch):
    console = common.console.get()
    monkeypatch.setattr(console, "width", 220)
    vision = {"status": "done", "photos": 3, "device": "cuda:0", "images_per_second": 120.0, "batch_size": {},
              "oom_retries": 0, "failed": 0, "cpu_threads": None,
              "gpu": {"name": "NVIDIA L4", "samples": 8, "mean_utilisation_percent": 71.5,
                      "peak_utilisation_percent": 99, "peak_memory_used_bytes": 3 * 2**30, "peak_temperature_c": 70}}
    with console.capture() as cap:
        print_summary(_result(vision))
    out = cap.get()
    assert "NVIDIA L4: utilisation mean 71.5 % / peak 99 %, peak memory 3.0 GiB, peak temperature 70 °C" in out
    assert "decode 0.5s" in out and "CPU time per stage (cpu-s)" in out and "decode 0.2s" in out
    cpu = {**vision, "device": "cpu", "gpu": None,
           "cpu_threads": {"threads": 1, "loader_workers": 1, "cores": 2, "wait_policy": "passive"}}
    with console.capture() as cap:
        print_summary(_result(cpu))
    out = cap.get()
    assert "1 torch thread(s) beside 1 loader worker(s) on 2 cores, OpenMP wait policy passive" in out
    assert "GPU" not in out.replace("GPU metrics", "")
    lost = {**vision, "gpu": {"samples": 0, "status": "unavailable", "message": "no NVIDIA driver found"}}
    with console.capture() as cap:
        print_summary(_result(lost))
    assert "no GPU metrics: no NVIDIA driver found" in cap.get()


def test_progress_bar_runs_on_the_lazy_console():
    """Progress bars get the rich Console itself, not the lazy stand-in (rich enters it as a context)."""
    from pathlib import Path

    from imgengine.cli.analyze import RichProgress
    from imgengine.engine.perfile import FileOutcome

    with common.err_console.get().capture(), RichProgress(True) as progress:
        progress.start(2, 0)
        progress.advance(FileOutcome(Path("a.jpg"), 1, 1, status="error"))
        progress.advance(FileOutcome(Path("b.jpg"), 1, 1))
    assert progress.done == 2 and progress.errors == 1
