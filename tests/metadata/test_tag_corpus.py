"""`tag` on copies of every JPEG, PNG, TIFF and HEIC of ../shared/corpus: every value reads back in ExifTool,
`exiftool -validate` finds nothing new, JPEG scan data is untouched, and undo restores every byte."""

from __future__ import annotations

import shutil

from imgengine.core.formats import sniff
from imgengine.metadata.exiftool import ExifTool
from imgengine.metadata.verify import verify_write
from imgengine.metadata.writer import MetadataWriter
from imgengine.processors.journal import Journal, undo
from imgengine.processors.tag import apply_tag, plan_tag
from imgengine.settings import Settings

from .helpers import jpeg_scan, needs_exiftool
from .test_tag_write import FULL


@needs_exiftool
def test_every_corpus_photo_tagged_verified_and_restored(corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    files = [p for p in root.rglob("*") if p.is_file() and sniff(p) in ("jpeg", "png", "tiff", "heic")]
    assert len(files) > 50
    before = {p: p.read_bytes() for p in files}
    problems = []
    with ExifTool() as et:
        warnings_before = {p: et.validate(p) for p in files}
        with MetadataWriter() as w:
            plan = plan_tag([root], Settings(), w, lambda _p: FULL)
            with Journal.begin(tmp_path / "state", "tag", {}) as j:
                results = apply_tag(plan, j, w)
        assert {r.src for r in results} >= set(files)
        for r in results:
            if r.src not in before:
                continue
            assert r.status == "done", (r.src, r.reason)
            fmt = sniff(r.src)
            for problem in verify_write(et, r.src, FULL, fmt, warnings_before[r.src]):
                problems.append(f"{r.src.relative_to(root)}: {problem}")
            if fmt == "jpeg":
                assert jpeg_scan(r.src.read_bytes()) == jpeg_scan(before[r.src]), r.src
    assert problems == []
    report = undo(tmp_path / "state", j.run_id)
    assert report.ok, report.problems[:3]
    assert all(p.read_bytes() == before[p] for p in files)
