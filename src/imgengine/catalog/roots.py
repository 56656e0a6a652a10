"""Named library roots: one photo library mounted at different paths on different machines.

    roots:
      nas: [/mnt/photos, /Volumes/photos]      # this machine mounts it at the first that exists

A photo under a root is stored in the catalog as the root's name and its path below the root
(``nas:/2023/IMG_1.jpg``, still bytes-exact), so the laptop that sees ``/Volumes/photos/2023/IMG_1.jpg`` and the
server that sees ``/mnt/photos/2023/IMG_1.jpg`` find the same row. A photo outside every root keeps its
absolute path. Stored keys never start with ``/`` when mapped, so the two kinds cannot be confused.

The stores translate at their boundary (``to_stored`` for every path that comes in, ``to_local`` for every
path that goes out): everything above the catalog sees this machine's paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError


def parse_roots(value: Any, source: str = "roots") -> dict[str, tuple[str, ...]]:
    """``{name: [mount, ...]}`` from YAML, or from the environment's ``nas=/mnt/photos,/Volumes/photos;...``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(";") if p.strip()]
        if not all(len(p) == 2 for p in pairs):
            raise ConfigError(f"{source}: 'roots' as text is name=/mount,/other/mount;name2=/path")
        value = {k.strip(): [m.strip() for m in v.split(",") if m.strip()] for k, v in pairs}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: 'roots' must map root names to mount points, e.g. nas: [/mnt/photos]")
    out: dict[str, tuple[str, ...]] = {}
    for name, mounts in value.items():
        name = str(name).strip()
        if not name or "/" in name or ":" in name:
            raise ConfigError(f"{source}: root name {name!r}: use a plain name (no '/' or ':')")
        mounts = [mounts] if isinstance(mounts, str) else list(mounts or ())
        if not mounts or not all(isinstance(m, str) and os.path.isabs(os.path.expanduser(m)) for m in mounts):
            raise ConfigError(f"{source}: root {name!r}: give one or more absolute mount points")
        out[name] = tuple(os.path.expanduser(m) for m in mounts)
    return out


class RootMap:
    """Translation between this machine's path keys and the catalog's stored keys."""

    def __init__(self, roots: Mapping[str, Any] | None = None):
        self.roots = parse_roots(dict(roots or {}))
        # longest mount first, so a root mounted inside another one wins
        self._mounts = sorted(((os.fsencode(os.path.abspath(m)).rstrip(b"/"), name.encode())
                               for name, ms in self.roots.items() for m in ms), key=lambda t: -len(t[0]))
        self.local_key: dict[bytes, bytes] = {}

    def __bool__(self) -> bool:
        return bool(self.roots)

    def to_stored(self, key: bytes) -> bytes:
        """This machine's absolute path key as the catalog stores it."""
        for mount, name in self._mounts:
            if key == mount or key.startswith(mount + b"/"):
                return name + b":" + key[len(mount):]
        return key

    def to_local(self, stored: bytes) -> bytes:
        """A stored key as a path on this machine: the root's first mount point that exists here (the first
        listed when none does); a root this machine does not know stays as stored."""
        if not self._mounts or stored.startswith(b"/"):
            return stored
        name, sep, rest = stored.partition(b":")
        if not sep:
            return stored
        mount = self.local_key.get(name)
        if mount is None:
            mounts = [os.fsencode(os.path.abspath(m)).rstrip(b"/") for m in self.roots.get(os.fsdecode(name), ())]
            if not mounts:
                return stored
            mount = self.local_key[name] = next((m for m in mounts if os.path.isdir(m)), mounts[0])
        return mount + rest


IDENTITY = RootMap()

