"""How many CPU threads the model stage gives torch, and how they wait.

Measured on 2 cores: with torch's OpenMP team sized to every core, GNU OpenMP threads spin at each sync
point, so as soon as the loader's decode worker or any other process wants a core, throughput collapses
(CLIP 44 -> 117 ms/image with one competing process). Two fixes, both made here and nowhere else:

* threads = the cores left after the loader's worker processes (at least one), unless configured
  (``cpu_threads``);
* ``OMP_WAIT_POLICY=PASSIVE`` (``omp_wait_policy``): idle OpenMP threads sleep instead of spinning. libgomp
  reads it once, when torch is first imported, so :func:`prepare_wait_policy` must run before that; a
  policy the user set in the environment is left alone.

Both end up in the run summary (``ThreadPlan.to_dict``) so a slow run can be explained.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

WAIT_POLICIES = ("passive", "active", "default")


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    threads: int             # torch intra-op threads
    cores: int               # cores this process may use
    loader_workers: int      # decode processes running beside the model
    wait_policy: str         # passive | active | default (the OpenMP runtime's own)
    wait_policy_source: str  # set-by-imgengine | environment | too-late (torch was imported first) | default
    configured: bool         # threads came from the cpu_threads setting

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_wait_policy(policy: str) -> tuple[str, str]:
    """Put the OpenMP wait policy into the environment if torch is not imported yet.
    Returns (policy in effect, where it came from)."""
    policy = (policy or "default").lower()
    if policy not in WAIT_POLICIES:
        from ..errors import ConfigError

        raise ConfigError(f"omp_wait_policy {policy!r}: use one of {', '.join(WAIT_POLICIES)}")
    user = os.environ.get("OMP_WAIT_POLICY")
    if user:  # the user's explicit choice wins over our default (also when we set it earlier ourselves)
        return user.lower(), ("set-by-imgengine" if os.environ.get("_IMGENGINE_SET_OMP_WAIT") == user
                              else "environment")
    if policy == "default":
        return "default", "default"
    if "torch" in sys.modules:
        return "default", "too-late"
    os.environ["OMP_WAIT_POLICY"] = policy.upper()
    os.environ["_IMGENGINE_SET_OMP_WAIT"] = policy.upper()
    return policy, "set-by-imgengine"


def plan_cpu_threads(loader_workers: int, configured: int = 0, wait_policy: str = "passive",
                     cores: int | None = None) -> ThreadPlan:
    """The thread plan for a model stage on the CPU (pure: nothing is applied)."""
    cores = cores or available_cores()
    policy, source = prepare_wait_policy(wait_policy)
    if configured and configured > 0:
        threads, from_config = int(configured), True
    else:
        threads, from_config = max(1, cores - max(0, loader_workers)), False
    return ThreadPlan(threads, cores, loader_workers, policy, source, from_config)


def apply_cpu_threads(loader_workers: int, configured: int = 0, wait_policy: str = "passive") -> ThreadPlan:
    """Size torch's intra-op pool for a CPU model stage; the batch stage calls this once per run."""
    import torch

    plan = plan_cpu_threads(loader_workers, configured, wait_policy)
    torch.set_num_threads(plan.threads)
    return plan
