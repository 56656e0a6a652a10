"""Events: photos grouped by gaps in time (and jumps in place, when GPS is known).

Photos are taken in bursts — a birthday, a day trip, a holiday. Sorted by time, a new event starts when
the gap to the previous photo exceeds ``gap`` (default 4 hours) or when two consecutive photos with GPS
are more than ``distance_km`` apart (default 50 km). An event folder is named by its date range, plus
its most common tag or city when one is known: ``2019-07-04 to 2019-07-06 beach``.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

from .plan import Item
from .template import clean_value


def _wall(item: Item) -> datetime | None:
    if item.date is None or item.date.source == "none":
        return None
    return item.date.value.replace(tzinfo=None)


def _gps(item: Item) -> tuple[float, float] | None:
    lat, lon = item.meta.get("gps_latitude"), item.meta.get("gps_longitude")
    if lat is None or lon is None:
        return None
    return float(lat), float(lon)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def event_name(start: datetime, end: datetime, label: str | None = None) -> str:
    if start.date() == end.date():
        name = f"{start:%Y-%m-%d}"
    else:
        name = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    return f"{name} {clean_value(label)}" if label else name


def assign_events(items: list[Item], gap: timedelta = timedelta(hours=4), distance_km: float = 50.0
                  ) -> list[str]:
    """An event name for each item (same order as ``items``); undated photos go to ``undated``."""
    names = ["undated"] * len(items)
    dated = sorted((i for i in range(len(items)) if _wall(items[i]) is not None),
                   key=lambda i: (_wall(items[i]), str(items[i].path)))
    groups: list[list[int]] = []
    last_time: datetime | None = None
    last_place: tuple[float, float] | None = None
    for i in dated:
        t = _wall(items[i])
        place = _gps(items[i])
        new = last_time is None or t - last_time > gap
        if not new and place is not None and last_place is not None and haversine_km(place, last_place) > distance_km:
            new = True
        if new:
            groups.append([])
        groups[-1].append(i)
        last_time = t
        if place is not None:
            last_place = place
    used: Counter = Counter()
    for members in groups:
        start, end = _wall(items[members[0]]), _wall(items[members[-1]])
        labels = Counter(lbl for i in members
                         for lbl in [items[i].meta.get("city") or items[i].tag] if lbl)
        label = labels.most_common(1)[0][0] if labels else None
        name = event_name(start, end, label)
        used[name] += 1
        if used[name] > 1:          # two events on the same day(s) without a label to tell them apart
            name = f"{name} ({used[name]})"
        for i in members:
            names[i] = name
    return names
