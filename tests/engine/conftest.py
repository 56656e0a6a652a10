"""A real local Ray (2 CPUs) for the Ray engine tests: one session per test module (Ray takes seconds to start)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def ray_session():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'imgengine[scale]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
