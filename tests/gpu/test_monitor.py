"""gpu-monitor and the run sampler against a fake of the NVML calls (no GPU or driver on CI machines)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.gpu import monitor
from imgengine.gpu.monitor import GpuLostError, GpuUnavailableError, NvmlSession, read_sample
from imgengine.gpu.sampler import GpuSampler, nvml_index, starvation_warning, summarise

from .fake_nvml import GPU_IS_LOST, LIBRARY_NOT_FOUND, FakeNvml, gpu

runner = CliRunner()


@pytest.fixture
def fake(monkeypatch) -> FakeNvml:
    nv = FakeNvml([gpu(), gpu(name="NVIDIA RTX A4000", util=5, fan=41, processes=(), reasons=0x1)])
    monkeypatch.setattr(monitor, "load_nvml", lambda: nv)
    return nv


def test_sample_converts_units_and_names_throttle_reasons(fake):
    s = read_sample(fake, 0, 0)
    assert s.name == "NVIDIA H100 80GB HBM3"
    assert (s.utilisation_percent, s.memory_utilisation_percent) == (87, 40)
    assert (s.memory_used_bytes, s.memory_total_bytes) == (30 * 2**30, 80 * 2**30)
    assert (s.power_watts, s.power_limit_watts) == (412.3, 700.0)       # NVML reports milliwatts
    assert (s.sm_clock_mhz, s.memory_clock_mhz) == (1980, 2619)
    assert s.fan_percent is None                                         # not supported on this card
    assert (s.pcie_tx_bytes_per_s, s.pcie_rx_bytes_per_s) == (2048 * 1024, 1_500_000 * 1024)  # KB/s
    assert s.throttle_reasons == ("sw-power-cap",)
    assert [(p.pid, p.name, p.memory_bytes) for p in s.processes] == [(4242, "python", 29 * 2**30)]
    assert read_sample(fake, 1, 1).fan_percent == 41


def test_once_prints_a_table_of_every_gpu(fake, monkeypatch):
    from imgengine.cli import common

    monkeypatch.setattr(common.console.get(), "width", 200)  # a wide terminal: nothing folded
    r = runner.invoke(app, ["gpu-monitor", "--once"])
    assert r.exit_code == 0, r.output
    for text in ("NVIDIA H100 80GB HBM3", "NVIDIA RTX A4000", "87 %", "30,720 / 81,920", "61 °C",
                 "412.3 / 700.0", "1980 / 2619", "sw-power-cap", "4242", "python", "550.54.15"):
        assert text in r.output, text
    assert fake.inits == fake.shutdowns == 1


def test_json_lines_and_log_file(fake, tmp_path):
    log = tmp_path / "gpu.jsonl"
    r = runner.invoke(app, ["gpu-monitor", "--json", "--count", "2", "--interval", "0.05", "--log", str(log),
                            "--device", "1"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert len(lines) == 2 and {d["index"] for d in lines} == {1}
    assert lines[0]["name"] == "NVIDIA RTX A4000" and lines[0]["fan_percent"] == 41
    assert lines[0]["throttle_reasons"] == ["idle"] and lines[0]["processes"] == []
    runner.invoke(app, ["gpu-monitor", "--once", "--log", str(log), "--device", "1"])
    logged = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(logged) == 3 and logged[:2] == lines                      # --log appends


def test_no_driver_is_one_line_exit_0_once_and_1_live(monkeypatch):
    nv = FakeNvml(init_error=LIBRARY_NOT_FOUND)
    monkeypatch.setattr(monitor, "load_nvml", lambda: nv)
    once = runner.invoke(app, ["gpu-monitor", "--once"])
    assert once.exit_code == 0
    assert "no NVIDIA driver" in once.output and "Traceback" not in once.output
    assert len(once.output.strip().splitlines()) == 1
    live = runner.invoke(app, ["gpu-monitor"])
    assert live.exit_code == 1 and "no NVIDIA driver" in live.output


def test_real_nvml_without_driver_or_with_one_answers_cleanly():
    pytest.importorskip("pynvml")
    r = runner.invoke(app, ["gpu-monitor", "--once"])
    assert r.exit_code == 0 and "Traceback" not in r.output


def test_driver_errors_and_bad_device(monkeypatch):
    nv = FakeNvml(count_error=9)  # NVML_ERROR_DRIVER_NOT_LOADED after a successful init
    with pytest.raises(GpuUnavailableError, match="not loaded"):
        NvmlSession(nv).__enter__()
    assert nv.shutdowns == 1                                             # init was undone
    with pytest.raises(GpuUnavailableError, match="reports no GPU"):
        NvmlSession(FakeNvml([])).__enter__()
    monkeypatch.setattr(monitor, "load_nvml", lambda: FakeNvml())
    r = runner.invoke(app, ["gpu-monitor", "--once", "--device", "3"])
    assert r.exit_code == 0 and "0..0" in r.output


def test_gpu_lost_in_the_live_view(fake):
    fake.gpus[0]["lost"] = True
    r = runner.invoke(app, ["gpu-monitor", "--json", "--count", "3", "--interval", "0.05"])
    assert r.exit_code == 1 and "stopped answering" in r.output and "Traceback" not in r.output
    with pytest.raises(GpuLostError):
        read_sample(fake, 0, 0)


def test_summary_figures_and_starvation():
    nv = FakeNvml([gpu()])
    samples = []
    for util, used, temp in ((10, 2 * 2**30, 50), (20, 6 * 2**30, 66), (24, 4 * 2**30, 58)):
        nv.gpus[0].update(util=util, used=used, temp=temp)
        samples.append(read_sample(nv, 0, 0))
    s = summarise(samples)
    assert s["samples"] == 3 and s["mean_utilisation_percent"] == 18.0 and s["peak_utilisation_percent"] == 24
    assert s["peak_memory_used_bytes"] == 6 * 2**30 and s["peak_temperature_c"] == 66
    assert s["throttle_reasons"] == ["sw-power-cap"]
    assert "loader is the bottleneck" in starvation_warning(s)
    assert starvation_warning({**s, "mean_utilisation_percent": 75.0}) is None
    assert starvation_warning({**s, "samples": 1}) is None               # too short to judge
    assert summarise([])["mean_utilisation_percent"] is None


def test_sampler_records_until_stopped_and_survives_a_lost_gpu():
    nv = FakeNvml([gpu(), gpu(util=10)])
    sampler = GpuSampler("cuda:1", interval=0.01, nvml=nv).start()
    assert sampler.status == "sampling"
    while len(sampler.samples) < 3:
        nv.samples_read.wait(1)
    nv.gpus[1]["lost"] = True                                            # the GPU falls off the bus
    sampler._thread.join(2)
    summary = sampler.stop()
    assert summary["status"] == "lost" and "stopped answering" in summary["message"]
    assert summary["samples"] >= 3 and summary["index"] == 1 and summary["mean_utilisation_percent"] == 10
    assert nv.shutdowns == 1


def test_sampler_off_for_cpu_and_quiet_without_driver():
    assert GpuSampler("cpu").start().stop() is None
    s = GpuSampler("cuda", nvml=FakeNvml(init_error=LIBRARY_NOT_FOUND)).start()
    out = s.stop()
    assert out["status"] == "unavailable" and out["samples"] == 0 and "no NVIDIA driver" in out["message"]
    lost_at_start = FakeNvml([gpu()])
    lost_at_start.gpus[0]["lost"] = True
    assert GpuSampler("cuda:0", nvml=lost_at_start).start().stop()["status"] == "lost"
    assert GPU_IS_LOST == 15


def test_nvml_index_follows_cuda_visible_devices(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert nvml_index("cpu") is None and nvml_index("cuda") == 0 and nvml_index("cuda:2") == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert nvml_index("cuda:0") == 3 and nvml_index("cuda:1") == 1


def test_live_view_piped_prints_one_table_per_sample(fake):
    r = runner.invoke(app, ["gpu-monitor", "--count", "2", "--interval", "0.05"])
    assert r.exit_code == 0, r.output
    assert r.output.count("NVIDIA GPUs (driver 550.54.15)") == 2
