"""The -stay_open ExifTool: answers many commands through one process, survives one crash, and after a
second one fails every remaining command with one clear line (files untouched)."""

from __future__ import annotations

import os
import signal

import pytest

from imgengine.errors import MetadataError
from imgengine.metadata.exiftool import ExifTool
from imgengine.metadata.fields import TagEdit
from imgengine.metadata.writer import MetadataWriter
from imgengine.processors.journal import Journal
from imgengine.processors.tag import apply_tag, plan_tag
from imgengine.settings import Settings

from .helpers import make_image, make_jpeg, needs_exiftool


@needs_exiftool
def test_one_process_many_commands_and_one_restart(tmp_path):
    photo = make_jpeg(tmp_path / "a.jpg")
    with ExifTool() as et:
        pids = set()
        for _ in range(5):
            assert et.read_json(photo)["IFD0:Make"] == "Canon"
            pids.add(et.pid)
        assert len(pids) == 1
        first = et.pid
        os.kill(first, signal.SIGKILL)
        assert et.read_json(photo)["IFD0:Make"] == "Canon"        # restarted once
        assert et.restarts == 1 and et.pid != first
        os.kill(et.pid, signal.SIGKILL)
        with pytest.raises(MetadataError, match="again after a restart"):
            et.read_json(photo)
        with pytest.raises(MetadataError):                        # the rest: reported, not retried forever
            et.read_json(photo)


@needs_exiftool
def test_exiftool_dying_mid_run_reports_the_rest_and_changes_nothing_half(tmp_path):
    photos = [make_image(tmp_path / f"p{i}.heic", "HEIF", seed=i) for i in range(4)]
    before = {p: p.read_bytes() for p in photos}
    calls = {"n": 0}
    with MetadataWriter() as w:
        plan = plan_tag([tmp_path], Settings(), w, lambda _p: TagEdit(add_keywords=("k",)))
        real_write_to = w.exiftool.write_to

        def dying(src, dst, edit, **kw):
            calls["n"] += 1
            if calls["n"] >= 2 and w.exiftool.pid is not None:
                os.kill(w.exiftool.pid, signal.SIGKILL)              # dies while the command is in flight
            return real_write_to(src, dst, edit, **kw)

        w.exiftool.write_to = dying
        with Journal.begin(tmp_path / "state", "tag", {}) as j:
            results = apply_tag(plan, j, w)
    statuses = [r.status for r in results]
    assert statuses[0] == "done" and "failed" in statuses
    for r in results:
        if r.status == "failed":
            assert "ExifTool" in r.reason and r.src.read_bytes() == before[r.src]
    assert not list(tmp_path.glob(".imgengine-tmp-*"))


def test_truncated_heic_is_refused_with_a_reason(tmp_path):
    photo = make_image(tmp_path / "a.heic", "HEIF")
    data = photo.read_bytes()[:300]
    photo.write_bytes(data)
    with MetadataWriter() as w:
        plan = plan_tag([photo], Settings(), w, lambda _p: TagEdit(rating=2))
        with Journal.begin(tmp_path / "state", "tag", {}) as j:
            results = apply_tag(plan, j, w)
    assert results[0].status == "failed" and results[0].reason
    assert photo.read_bytes() == data
