"""The loop on real plugin files: apply, validate, roll back, safety rules, crash recovery, learning."""

from __future__ import annotations

import json
import locale
import os
from pathlib import Path

import pytest

from imgengine.feedback import service
from imgengine.feedback.fixlog import FeedbackError, FixLog, sha256_bytes, write_atomic
from imgengine.feedback.grouping import group_errors, photo_path
from imgengine.feedback.learning import error_times, learn
from imgengine.feedback.loop import BLOCKED, CHANGED, FIXABLE, Options, suggest
from imgengine.feedback.records import read_error_records
from imgengine.feedback.safety import allowed_roots, refusal

from .helpers import photo, run_plugin, write_plugin

RATIO = '''
@dataclass(frozen=True)
class ContrastResult(Result):
    ratio: float


class ContrastAnalyzer(Analyzer):
    name = "contrast_ratio"
    needs_pixels = True

    def analyze(self, item):
        img = item.pixels.pixels if hasattr(item.pixels, "pixels") else item.pixels
        arr = __import__("numpy").asarray(img)
        ratio = float(arr.max()) / float(arr.mean())
        return ContrastResult(ratio=ratio)
'''

TWO_BUGS = '''
@dataclass(frozen=True)
class InfoResult(Result):
    ratio: float
    maker: str | None


class InfoAnalyzer(Analyzer):
    name = "info"

    def analyze(self, item):
        sizes = {"w": item.photo.size}
        ratio = sizes["w"] / (item.photo.size % 7)
        meta = {}
        maker = meta["Make"]
        return InfoResult(ratio=ratio, maker=maker)
'''


@pytest.fixture
def world(tmp_path):
    plugins, logs = tmp_path / "plugins", tmp_path / "logs"
    req = lambda **kw: service.Request(logs, tmp_path / "state", Options(allowed_roots([plugins]), 0.6), **kw)  # noqa: E731
    return plugins, logs, req


def _pixels_plugin(plugins):
    return write_plugin(plugins, "contrast", RATIO.replace(
        'img = item.pixels.pixels if hasattr(item.pixels, "pixels") else item.pixels\n'
        '        arr = __import__("numpy").asarray(img)',
        "from PIL import Image\n        arr = __import__('numpy').asarray(Image.open(item.photo.path))"))


def test_apply_keeps_a_validated_fix_with_backup_and_record(world, tmp_path):
    plugins, logs, req = world
    plugin = _pixels_plugin(plugins)
    original = plugin.read_bytes()
    black, normal = photo(tmp_path / "p" / "black.jpg", black=True), photo(tmp_path / "p" / "ok.jpg")
    before = run_plugin(plugin, "contrast_ratio", [black, normal], logs)
    assert before[0] == {"error": "ZeroDivisionError"}
    out = service.run(req(apply=True), approve=lambda s: True)
    [rec] = out.applied
    assert rec.outcome == "kept", rec.end
    checks = {c["name"]: c["status"] for c in rec.end["validation"]}
    assert checks == {"import": "passed", "ruff": "passed", "check command": "skipped", "re-run": "passed"}
    assert "if float(arr.mean()) else 0.0)" in plugin.read_text(encoding="utf-8")
    assert Path(rec["backup"]).read_bytes() == original
    assert Path(rec["backup"]).is_relative_to(tmp_path / "state" / "feedback" / "backups" / rec.id)
    after = run_plugin(plugin, "contrast_ratio", [black, normal], tmp_path / "logs2")
    assert after == [{"ratio": 0.0}, before[1]]          # fixed, and the normal photo's result unchanged
    lines = [json.loads(x) for x in (logs / "fixes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["event"] for e in lines] == ["begin", "end"] and lines[0]["diff"].startswith("--- a/contrast.py")
    # the group is now reported as fixed, and learning counted a success
    assert out.suggestions[0].status == "fixed"
    assert out.stats["guarded-division"].successes == 1
    assert out.stats["guarded-division"].confidence > out.stats["guarded-division"].prior_confidence
    assert {p.suffix for p in out.report_paths.values()} == {".txt", ".json", ".html"}
    assert "<svg" in out.report_paths["html"].read_text(encoding="utf-8")


def test_fix_that_fails_validation_is_rolled_back_byte_for_byte(world, tmp_path):
    plugins, logs, req = world
    plugin = _pixels_plugin(plugins)
    # the plugin's own test pins the old behaviour: the fix breaks it on purpose
    (plugins / "test_contrast.py").write_text(
        "import pytest\nfrom contrast import ContrastAnalyzer\n\n"
        "def test_black_photos_raise():\n    assert 'ZeroDivisionError' in open(__file__.replace("
        "'test_contrast', 'contrast')).read() or pytest.fail('guarded')\n"
        "    import inspect, contrast\n    assert ' if ' not in inspect.getsource(contrast.ContrastAnalyzer.analyze)\n",
        encoding="utf-8")
    original = plugin.read_bytes()
    run_plugin(plugin, "contrast_ratio", [photo(tmp_path / "black.jpg", black=True)], logs)
    out = service.run(req(apply=True), approve=lambda s: True)
    [rec] = out.applied
    assert rec.outcome == "rolled_back"
    assert "check command failed" in rec.end["reason"]
    assert plugin.read_bytes() == original
    assert out.stats["guarded-division"].failures == 1
    assert out.stats["guarded-division"].confidence < out.stats["guarded-division"].prior_confidence
    # the same fix is not tried again and again: the next run says why and leaves the file alone
    again = service.run(req(apply=True), approve=lambda s: True)
    assert again.applied == [] and again.suggestions[0].status == "manual"
    assert f"rolled back before ({rec.id}" in again.suggestions[0].reason
    assert plugin.read_bytes() == original


def test_two_fixes_on_one_file_one_at_a_time(world, tmp_path):
    plugins, logs, req = world
    plugin = write_plugin(plugins, "info", TWO_BUGS)
    # size % 7 == 0 -> ZeroDivisionError on one photo; the KeyError shows once the division is fixed
    photos = []
    for seed in range(40):
        p = photo(tmp_path / "p" / f"{seed}.jpg", seed=seed)
        if p.stat().st_size % 7 == 0 and not photos:
            photos.append(p)
        elif p.stat().st_size % 7 and len(photos) == 1:
            photos.append(p)
            break
    run_plugin(plugin, "info", photos, logs)
    out = service.run(req(apply=True), approve=lambda s: True)
    assert [r.outcome for r in out.applied] == ["kept", "kept"]
    text = plugin.read_text(encoding="utf-8")
    assert "if (item.photo.size % 7) else 0.0)" in text and 'maker = meta.get("Make")' in text
    # each fix was validated alone: the second one's backup is the file after the first fix
    first, second = out.applied
    assert Path(second["backup"]).read_bytes() != Path(first["backup"]).read_bytes()
    assert sha256_bytes(Path(second["backup"]).read_bytes()) == first["new_sha256"]
    assert run_plugin(plugin, "info", photos, tmp_path / "l2")[0]["ratio"] == 0.0


def test_a_file_changed_since_the_error_is_not_touched(world, tmp_path):
    plugins, logs, req = world
    plugin = _pixels_plugin(plugins)
    run_plugin(plugin, "contrast_ratio", [photo(tmp_path / "black.jpg", black=True)], logs)
    edited = plugin.read_text(encoding="utf-8").replace("ratio = float", "# edited by hand\n        ratio = float")
    plugin.write_text(edited, encoding="utf-8")
    os.utime(plugin, (plugin.stat().st_atime + 5, plugin.stat().st_mtime + 5))
    out = service.run(req(apply=True), approve=lambda s: True)
    assert out.applied == [] and out.suggestions[0].status == CHANGED
    assert plugin.read_text(encoding="utf-8") == edited


def test_recorded_hash_decides_when_present(world, tmp_path):
    plugins, logs, _ = world
    plugin = _pixels_plugin(plugins)
    run_plugin(plugin, "contrast_ratio", [photo(tmp_path / "black.jpg", black=True)], logs)
    [g] = group_errors(read_error_records(logs))
    g.source_sha256 = sha256_bytes(plugin.read_bytes())
    assert suggest(g, Options(allowed_roots([plugins]), 0.6), [], learn([], {})).status == FIXABLE
    g.source_sha256 = "0" * 64
    assert suggest(g, Options(allowed_roots([plugins]), 0.6), [], learn([], {})).status == CHANGED


def test_only_allowed_roots_are_written(world, tmp_path):
    plugins, logs, _ = world
    plugin = _pixels_plugin(plugins)
    run_plugin(plugin, "contrast_ratio", [photo(tmp_path / "black.jpg", black=True)], logs)
    elsewhere = service.Request(logs, tmp_path / "state", Options(allowed_roots([tmp_path / "other"]), 0.6),
                                apply=True)
    original = plugin.read_bytes()
    out = service.run(elsewhere, approve=lambda s: True)
    assert out.applied == [] and out.suggestions[0].status == BLOCKED
    assert "outside the allowed roots" in out.suggestions[0].reason and out.suggestions[0].diff
    assert plugin.read_bytes() == original
    import numpy
    assert "site-packages" in refusal(Path(numpy.__file__), [Path("/")])
    link = plugins / "link.py"
    link.symlink_to(plugin)
    assert refusal(link, allowed_roots([plugins])) == "it is a symbolic link"


def test_core_source_needs_allow_core():
    import imgengine.feedback.loop as mod

    path = Path(mod.__file__)
    assert "--allow-core" in (refusal(path, allowed_roots([])) or "--allow-core")
    if "site-packages" not in path.parts:
        assert refusal(path, allowed_roots([], allow_core=True)) is None


def test_non_interactive_without_auto_approve_writes_diffs_only(world, tmp_path):
    plugins, logs, req = world
    plugin = _pixels_plugin(plugins)
    run_plugin(plugin, "contrast_ratio", [photo(tmp_path / "black.jpg", black=True)], logs)
    original = plugin.read_bytes()
    out = service.run(req(apply=True, write_diffs=True), approve=lambda s: True)
    assert out.applied == [] and plugin.read_bytes() == original
    [diff] = out.diff_files
    assert "+        ratio = (float(arr.max()) / float(arr.mean()) if" in diff.read_text(encoding="utf-8")
    out = service.run(req(apply=True, dry_run=True), approve=lambda s: True)
    assert out.applied == [] and plugin.read_bytes() == original and not (logs / "fixes.jsonl").exists()


def test_crash_mid_apply_leaves_old_or_validated_file(tmp_path):
    target = tmp_path / "plugins" / "p.py"
    target.parent.mkdir()
    target.write_bytes(b"x = 1\n")
    log = FixLog(tmp_path / "logs", tmp_path / "state")
    # 1. crash after the backup and the record, before the replace
    log.begin("a", target, b"x = 1\n", b"x = 2\n", {"pattern": "p", "fingerprint": "f", "time": "t"})
    # 2. crash after the replace, before validation ended
    log.begin("b", target, b"x = 1\n", b"x = 3\n", {"pattern": "p", "fingerprint": "f"})
    write_atomic(target, b"x = 3\n")
    done = log.settle()
    assert len(done) == 2 and target.read_bytes() == b"x = 1\n"
    assert {r.id: r.outcome for r in log.records()} == {"a": "interrupted", "b": "interrupted"}
    assert log.settle() == []


def test_rollback_by_hand(world, tmp_path):
    plugins, logs, req = world
    plugin = _pixels_plugin(plugins)
    original = plugin.read_bytes()
    run_plugin(plugin, "contrast_ratio", [photo(tmp_path / "black.jpg", black=True)], logs)
    [rec] = service.run(req(apply=True), approve=lambda s: True).applied
    log = FixLog(logs, tmp_path / "state")
    fixed = plugin.read_bytes()
    plugin.write_bytes(fixed + b"# later edit\n")
    with pytest.raises(FeedbackError, match="changed since"):
        log.rollback(rec.id)
    plugin.write_bytes(fixed)
    assert log.rollback(rec.id[:-1]).outcome == "rolled_back_by_hand"
    assert plugin.read_bytes() == original
    with pytest.raises(FeedbackError, match="nothing to roll back"):
        log.rollback(rec.id)
    stats = learn(log.records(), {})
    assert stats["guarded-division"].failures == 1


def test_recurring_fingerprint_counts_as_failure(world, tmp_path):
    plugins, logs, req = world
    plugin = _pixels_plugin(plugins)
    black = photo(tmp_path / "black.jpg", black=True)
    run_plugin(plugin, "contrast_ratio", [black], logs)
    [rec] = service.run(req(apply=True), approve=lambda s: True).applied
    log = FixLog(logs, tmp_path / "state")
    assert learn(log.records(), error_times(read_error_records(logs)))["guarded-division"].successes == 1
    # the same bug comes back (the backup is put back by someone): the fingerprint recurs after the fix
    plugin.write_bytes(Path(rec["backup"]).read_bytes())
    run_plugin(plugin, "contrast_ratio", [black], logs)
    stats = learn(log.records(), error_times(read_error_records(logs)))["guarded-division"]
    assert (stats.successes, stats.failures) == (0, 1)


def test_grouping_by_the_plugins_own_line(world, tmp_path):
    plugins, logs, _ = world
    plugin = _pixels_plugin(plugins)
    blacks = [photo(tmp_path / f"b{i}.jpg", black=True) for i in range(3)]
    run_plugin(plugin, "contrast_ratio", blacks[:1], logs)
    run_plugin(plugin, "contrast_ratio", blacks, logs)
    [g] = group_errors(read_error_records(logs))
    assert g.count == 4 and len(g.files) == 3 and g.trend == "rising"
    assert g.source_file == str(plugin) and "ratio = float" in plugin.read_text().splitlines()[g.source_line - 1]
    assert g.message == "float division by zero"


def test_photo_path_from_display_form(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    open(raw, "wb").close()
    shown = raw.decode("utf-8", "backslashreplace")
    assert os.fsencode(photo_path(shown)) == raw


def test_oom_runs_become_a_batch_size_config_change(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i, (clip, detr) in enumerate([(128, 16), (256, 8)]):
        (logs / f"2026010{i}_000000_summary.json").write_text(json.dumps(
            {"run_id": f"r{i}", "vision": {"device": "cuda", "oom_retries": 2, "batch_size": {"clip": clip,
                                                                                            "detr": detr}}}))
    config = tmp_path / "config.yaml"
    config.write_text("# my settings\nworkers: 2\nbatch_size: auto\n", encoding="utf-8")
    original = config.read_bytes()
    req = service.Request(logs, tmp_path / "state", Options([], 0.6), apply=True, config_path=config)
    out = service.run(req, approve_config=lambda c: True)
    assert out.config_change.batch_size == 8
    [rec] = out.applied
    assert rec.outcome == "kept" and rec["kind"] == "config"
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# my settings\nworkers: 2\nbatch_size: 8  # set by imgengine feedback")
    assert Path(rec["backup"]).read_bytes() == original
    # already at the size that worked: nothing more to propose
    assert service.run(req, approve_config=lambda c: True).config_change is None


@pytest.mark.skipif(locale.getpreferredencoding(False).lower().replace("-", "") != "utf8",
                    reason="the bug needs a UTF-8 default encoding")
def test_encoding_fix_end_to_end_on_a_latin1_caption(world, tmp_path):
    plugins, logs, req = world
    plugin = write_plugin(plugins, "caption", '''
        @dataclass(frozen=True)
        class CaptionResult(Result):
            caption: str


        class CaptionAnalyzer(Analyzer):
            name = "caption"

            def analyze(self, item):
                cap = item.photo.path.with_suffix(".txt")
                with open(cap) as fh:  # the photographer's caption
                    text = fh.read().strip()
                return CaptionResult(caption=text)
        ''')
    p = photo(tmp_path / "p" / "a.jpg")
    p.with_suffix(".txt").write_bytes("Plage à Nice".encode("latin-1"))
    run_plugin(plugin, "caption", [p], logs)
    [rec] = service.run(req(apply=True), approve=lambda s: True).applied
    assert rec.outcome == "kept"
    assert 'with open(cap, encoding="utf-8", errors="replace") as fh:  # the photographer\'s caption' in \
        plugin.read_text(encoding="utf-8")


OOM_PLUGIN = '''
    import torch

    from imgengine.analyzers.base import BatchAnalyzer, InputSpec
    from imgengine.plugins import hookimpl


    class MeanColour(BatchAnalyzer):
        name = "mean_colour"
        version = "1"
        input_spec = InputSpec(size=16, crop=True)
        batch_size = {"cpu": 8, "cuda": 8}

        def load(self, device):
            self.device = device

        def run(self, batch):
            if len(batch) > 2:   # as a GPU with little free memory would
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return [{"mean": round(float(v), 3)} for v in batch.pixels.float().mean(dim=(1, 2, 3))]


    @hookimpl
    def register_analyzers():
        return [MeanColour]
'''


def test_repeated_oom_in_real_runs_becomes_a_config_change_that_ends_them(tmp_path, settings):
    pytest.importorskip("torch")
    import textwrap

    from imgengine.engine.run import run_analysis
    from imgengine.settings import load_settings

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "colours.py").write_text(textwrap.dedent(OOM_PLUGIN), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("# mine\ndevice: cpu\n", encoding="utf-8")

    def analyse(folder: str):
        for i in range(5):
            photo(tmp_path / folder / f"{i}.jpg", seed=i)
        s = load_settings(config, environ={}).replace(
            plugin_dirs=(str(plugins),), log_dir=settings.log_dir, catalog=tmp_path / f"{folder}.db",
            workers=1, models_dir=tmp_path / "no-models", clip_model="nobody/none", detr_model="nobody/none")
        return run_analysis(tmp_path / folder, s).summary["vision"]

    assert analyse("a")["oom_retries"] >= 1 and analyse("b")["oom_retries"] >= 1
    req = service.Request(settings.log_dir, tmp_path / "state", Options([], 0.6), apply=True, config_path=config)
    out = service.run(req, approve_config=lambda c: True)
    assert (out.config_change.device, out.config_change.batch_size) == ("cpu", 2)
    [rec] = out.applied
    assert rec.outcome == "kept" and config.read_text(encoding="utf-8").startswith("# mine\ndevice: cpu\nbatch_size: 2")
    after = analyse("c")
    assert after["oom_retries"] == 0 and after["batch_size"]["mean_colour"] == 2


def test_a_plugin_that_fails_to_import_reaches_the_loop(tmp_path, settings):
    """A top-level import of a missing module: the run logs it to errors.jsonl (stage plugin-load, the
    plugin's own line), and the loop adds the distribution to the plugin folder's requirements."""
    from imgengine.engine.run import run_analysis

    plugins = tmp_path / "plugins"
    plugin = write_plugin(plugins, "text_reader", "import pytesseract  # OCR\n")
    photo(tmp_path / "photos" / "a.jpg")
    s = settings.replace(plugin_dirs=(str(plugins),), vision=False)
    assert run_analysis(tmp_path / "photos", s).summary["ok"] == 1
    [rec] = [r for r in read_error_records(s.log_dir) if r["stage"] == "plugin-load"]
    assert (rec["plugin"], rec["exception_type"], rec["source_file"]) == ("text_reader", "ModuleNotFoundError",
                                                                         str(plugin))
    assert plugin.read_text().splitlines()[rec["source_line"] - 1] == "import pytesseract  # OCR"
    req = service.Request(s.log_dir, tmp_path / "state", Options(allowed_roots([plugins]), 0.6), apply=True)
    [fix] = service.run(req, approve=lambda s: True).applied
    assert fix.outcome == "kept" and (plugins / "requirements.txt").read_text() == "pytesseract\n"
