"""The batch stage's loader workers: forked by default, started from a forkserver once Ray is loaded in the
process (Ray's native threads outlive ``ray.shutdown()``; a fork taken while one holds a lock hangs the
child for ever: seen as a CI run stuck in a DataLoader worker after the Ray tests ran in the same worker)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from imgengine.analyzers.base import InputSpec as ModelInput  # noqa: E402
from imgengine.engine.batch import _loader, loader_start_method  # noqa: E402
from imgengine.engine.loader import InputSpec, PhotoRef  # noqa: E402


def _refs(tmp_path, n=3):
    refs = []
    for i in range(n):
        p = tmp_path / f"p{i}.jpg"
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 255, (40 + i * 8, 64, 3), dtype=np.uint8)).save(p, quality=90)
        st = p.stat()
        refs.append(PhotoRef(i + 1, p, st.st_size, st.st_mtime_ns, "JPEG"))
    return refs


def _batches(refs, start_method):
    spec = InputSpec(inputs=(("clip", ModelInput(16, crop=True, resize=16)),
                             ("detr", ModelInput(32, crop=False, resample="bilinear"))))
    loader = _loader(refs, spec, 2, 1, "cpu")
    assert loader.multiprocessing_context is None if start_method is None else \
        loader.multiprocessing_context.get_start_method() == start_method
    return [(b["clip"].clone(), b["detr"].clone()) for b in loader]


def test_fork_by_default_forkserver_once_ray_is_loaded(tmp_path, monkeypatch):
    refs = _refs(tmp_path)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    assert loader_start_method() is None
    forked = _batches(refs, None)
    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))
    assert loader_start_method() == "forkserver"
    served = _batches(refs, "forkserver")
    assert len(forked) == len(served) == 2
    for (c1, d1), (c2, d2) in zip(forked, served, strict=True):
        assert torch.equal(c1, c2) and torch.equal(d1, d2)


def test_the_file_pools_do_not_fork_once_ray_or_torch_is_loaded(monkeypatch):
    from imgengine.engine.executors import pool_context

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert pool_context().get_start_method() == ("fork" if sys.platform.startswith("linux") else "spawn")
    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))
    assert pool_context().get_start_method() == "spawn"
    monkeypatch.delitem(sys.modules, "ray")
    monkeypatch.setitem(sys.modules, "torch", torch)
    assert pool_context().get_start_method() == "spawn"
