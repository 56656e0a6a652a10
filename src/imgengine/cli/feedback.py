"""``imgengine feedback``: errors.jsonl → grouped report → reviewed, validated fixes; history; rollback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from ..workspace import config_file
from .common import ConfigOption, console, err_console, handle_errors, settings_from

feedback_app = typer.Typer(help="Turn a run's errors into reviewed, validated fixes of plugin code.",
                           no_args_is_help=False, invoke_without_command=True)

LogsOption = typer.Option("--logs", help="Folder with errors.jsonl and fixes.jsonl (default: log_dir).",
                          file_okay=False)
StateOption = typer.Option("--state-dir", help="Where fix backups go (default: IMGENGINE_STATE_DIR, "
                                                     "else .imgengine beside the logs folder).", file_okay=False)


def _dirs(config: Path | None, logs: Path | None, state_dir: Path | None):
    settings = settings_from(config)
    log_dir = Path(logs) if logs else Path(settings.log_dir)
    if state_dir is None:
        env = os.environ.get("IMGENGINE_STATE_DIR")
        state_dir = Path(env) if env else Path(os.path.abspath(log_dir)).parent / ".imgengine"
    return settings, log_dir, Path(state_dir)


@feedback_app.callback()
@handle_errors
def feedback(
    ctx: typer.Context,
    logs: Annotated[Path | None, LogsOption] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only errors newer than this: 7d, 12h, 30m or a "
                                                              "date.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Apply suggested fixes (asks for each one; "
                                                        "not interactive: only writes the diffs).")] = False,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="With --apply: apply fixes at or above "
                                                                      "--min-confidence without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diffs; never write source.")] = False,
    min_confidence: Annotated[float | None, typer.Option("--min-confidence", min=0.0, max=1.0,
                                                         help="Threshold for --auto-approve "
                                                              "(default: feedback_min_confidence).")] = None,
    plugin_dir: Annotated[list[Path] | None, typer.Option("--plugin-dir", help="A plugin folder the loop may "
                                                          "rewrite (repeatable; default: plugin_dirs, ./plugins).",
                                                          file_okay=False)] = None,
    allow_core: Annotated[bool, typer.Option("--allow-core", help="Also allow imgengine's own src/ (editable "
                                                                  "installs only).")] = False,
    check_command: Annotated[str | None, typer.Option("--check-command", help="Command that must pass after a "
                                                      "fix ({file} = the fixed file); default: the tests that "
                                                      "cover it.")] = None,
    state_dir: Annotated[Path | None, StateOption] = None,
    config: Path | None = ConfigOption,
) -> None:
    """Group the errors of past runs, suggest fixes, and with --apply make them (backed up, validated,
    rolled back when validation fails). See `feedback history` and `feedback rollback`."""
    if ctx.invoked_subcommand is not None:
        return
    from ..errors import UsageError
    from ..feedback.loop import Options
    from ..feedback.records import parse_since
    from ..feedback.safety import allowed_roots
    from ..feedback.service import Request, run

    if auto_approve and not apply:
        raise UsageError("--auto-approve needs --apply")
    settings, log_dir, sdir = _dirs(config, logs, state_dir)
    from ..plugins.manager import plugin_folders

    dirs = list(plugin_dir) if plugin_dir else plugin_folders(settings.plugin_dirs)
    threshold = settings.feedback_min_confidence if min_confidence is None else min_confidence
    opts = Options(allowed_roots(dirs, allow_core), threshold,
                   check_command if check_command is not None else (settings.feedback_check_command or None))
    interactive = _interactive() and not as_json
    config_path = Path(config) if config else config_file()
    req = Request(log_dir, sdir, opts, parse_since(since), apply=apply, dry_run=dry_run, config_path=config_path,
                  write_diffs=apply and not auto_approve and not interactive and not dry_run)

    def approve(s) -> bool:
        if auto_approve:
            return s.fix.confidence >= threshold
        status.stop()
        _show(s)
        return typer.confirm(f"apply this fix (confidence {s.fix.confidence:.2f})?", default=False)

    def approve_config(change) -> bool:
        if auto_approve:
            return True
        status.stop()
        console.print(f"config: batch_size {change.batch_size} in {escape(str(change.config))} "
                      f"({change.retries} out-of-memory retries on {change.device})")
        return typer.confirm("apply this config change?", default=False)

    status = console.status("")

    def on_start(what: str) -> None:
        if not as_json:
            status.update(escape(what))
            status.start()

    def on_applied(rec) -> None:
        status.stop()
        if not as_json:
            colour = "green" if rec.outcome == "kept" else "red"
            console.print(f"[{colour}]{rec.outcome}[/] {rec.id}: {escape(rec['summary'])} "
                          f"({escape(str(rec.file))})" + (f" — {escape(rec.end['reason'])}"
                                                          if rec.end and rec.end.get("reason") else ""),
                          highlight=False)
            if rec.outcome == "kept":
                for note in rec.begin.get("notes") or []:
                    console.print(f"  {escape(note)}", highlight=False)

    try:
        outcome = run(req, approve, approve_config, on_applied, on_start)
    finally:
        status.stop()
    if as_json:
        typer.echo(json.dumps(outcome.report, ensure_ascii=False, default=str))
        return
    for line in outcome.settled:
        err_console.print(f"[yellow]settled[/] {escape(line)}")
    _print_report(outcome)
    if dry_run:
        for s in outcome.suggestions:
            if s.diff:
                _show(s)
    for p in outcome.diff_files:
        console.print(f"diff written (not applied; run with --auto-approve or interactively): {escape(str(p))}")
    console.print(f"report: {escape(str(outcome.report_paths['txt']))} (.json, .html)")


def _interactive() -> bool:
    return sys.stdin.isatty()


def _show(s) -> None:
    console.print(f"[bold]{escape(s.fix.summary)}[/] — {escape(str(s.fix.file))}", highlight=False)
    for note in s.fix.notes:
        console.print(f"  {escape(note)}")
    console.print(Syntax(s.diff or "", "diff", theme="ansi_dark", background_color="default"))


def _print_report(outcome) -> None:
    table = Table(title="errors by fingerprint", show_lines=False)
    for col in ("#", "error", "count", "photos", "trend", "where", "fix", "conf.", "status"):
        table.add_column(col, overflow="fold")
    for i, s in enumerate(outcome.suggestions, 1):
        g = s.group
        where = f"{Path(g.source_file).name}:{g.source_line}" if g.source_file else "—"
        table.add_row(str(i), escape(f"{g.exception_type}: {g.message[:60]}"), str(g.count), str(len(g.files)),
                      g.trend, escape(where), escape(s.fix.pattern if s.fix else "—"),
                      f"{s.fix.confidence:.2f}" if s.fix else "", escape(s.status + (f": {s.reason}" if s.reason
                                                                                     else "")))
    console.print(table)
    if outcome.config_change:
        c = outcome.config_change
        console.print(f"runtime: {c.retries} out-of-memory retries on {c.device} in {len(c.runs)} runs → "
                      f"batch_size {c.batch_size} in {escape(str(c.config))}")


@feedback_app.command("history")
@handle_errors
def history(
    logs: Annotated[Path | None, LogsOption] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    state_dir: Annotated[Path | None, StateOption] = None,
    config: Path | None = ConfigOption,
) -> None:
    """List the fixes the loop applied, with their validation and outcome."""
    from ..feedback.fixlog import FixLog

    _, log_dir, sdir = _dirs(config, logs, state_dir)
    records = FixLog(log_dir, sdir).records()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], ensure_ascii=False, default=str))
        return
    if not records:
        console.print(f"no fixes recorded in {escape(str(log_dir / 'fixes.jsonl'))}")
        return
    table = Table(title="fixes")
    for col in ("id", "time", "pattern", "file", "outcome", "validation"):
        table.add_column(col, overflow="fold")
    for r in records:
        checks = ", ".join(f"{c['name']} {c['status']}" for c in (r.end or {}).get("validation") or [])
        table.add_row(r.id, r["time"][:19], r["pattern"], escape(f"{r['file']}:{r['line']}"), r.outcome,
                      escape(checks))
    console.print(table)


@feedback_app.command("rollback")
@handle_errors
def rollback(
    fix_id: Annotated[str, typer.Argument(help="The fix id (or a unique prefix), from `feedback history`.")],
    force: Annotated[bool, typer.Option("--force", help="Restore even if the file changed since the fix.")] = False,
    logs: Annotated[Path | None, LogsOption] = None,
    state_dir: Annotated[Path | None, StateOption] = None,
    config: Path | None = ConfigOption,
) -> None:
    """Undo one applied fix: the file gets its pre-fix bytes back (refused if it changed since, unless --force)."""
    from ..feedback.fixlog import FixLog

    _, log_dir, sdir = _dirs(config, logs, state_dir)
    rec = FixLog(log_dir, sdir).rollback(fix_id, force)
    console.print(f"rolled back {rec.id}: {escape(str(rec.file))} has its pre-fix bytes again", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
