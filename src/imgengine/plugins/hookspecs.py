"""Every hook a plugin can implement, one documented empty function each (pluggy hook specifications).

A plugin implements a hook by defining a function of the same name marked ``@hookimpl``::

    from imgengine.plugins import hookimpl

    @hookimpl
    def register_analyzers():
        return [MyAnalyzer]

Registration hooks return lists (pluggy collects every plugin's list); event hooks return nothing and
must be quick: they run in the parent process, in the order the run produces events. A plugin need
implement only the hooks it uses, and may leave out arguments it does not need (pluggy passes by name).
"""

from __future__ import annotations

from typing import Any

from . import hookspec


@hookspec
def register_analyzers() -> list[type]:
    """Analyzer classes this plugin provides: subclasses of ``imgengine.analyzers.base.Analyzer``
    (per-file, CPU, in the process pool) or ``BatchAnalyzer`` (GPU/ONNX models fed by the shared loader).

    Example::

        @hookimpl
        def register_analyzers():
            return [HorizonTiltAnalyzer, AestheticsHead]

    Each class needs a unique ``name``; ``imgengine analyze`` runs every registered analyzer unless the
    user narrows the set with ``--analyzers`` / ``--no-plugin``.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``imgengine`` command line. ``cli`` is the root ``typer.Typer``.

    Example::

        faces_app = typer.Typer(help="Face clusters.")

        @hookimpl
        def register_commands(cli):
            cli.add_typer(faces_app, name="faces")

    Keep heavy imports inside the command functions: this hook runs on every start of the CLI.
    """


@hookspec
def register_writers() -> list[Any]:
    """Output writers for ``analyze -o FILE``, chosen by the file's extension: objects with
    ``extensions`` (e.g. ``(".parquet",)``), ``name`` and ``write(records, target, context)``
    (see :class:`imgengine.engine.writers.Writer`).

    Example::

        @hookimpl
        def register_writers():
            return [ParquetWriter()]
    """


@hookspec
def register_layouts() -> list[Any]:
    """Storage layouts for ``imgengine organize --layout NAME``: objects with ``name``, ``description``
    and ``template`` (a rename/organize template such as ``"{year}/{month:02}/{stem}{ext}"``).

    Example::

        @hookimpl
        def register_layouts():
            return [Layout("by-camera", "one folder per camera", "{camera}/{year}/{stem}{ext}")]
    """


@hookspec
def register_processors() -> list[Any]:
    """Processors: planners that turn catalog records into file changes (move, copy, tag, convert...).
    Objects with ``name``, ``description`` and ``plan(records, settings)`` returning
    :class:`imgengine.processors.journal.Step` objects. ``imgengine process NAME PATH`` passes the catalog
    records of the photos under PATH and the settings (``settings.plugins[NAME]`` holds the processor's
    section with its declared defaults), checks the steps, previews them, and with ``--apply`` runs them
    through the journal, so dry run, apply and undo work the same as for ``organize``. A processor without
    ``plan`` (the built-in albums) may say how it runs in ``runs_as``.

    Example::

        from imgengine.processors.journal import Step

        class PoorToReview:
            name = "poor-to-review"
            description = "photos rated poor into _review/"

            def plan(self, records, settings):
                return [Step("move", r["path"], r["path"].parent / "_review" / r["path"].name)
                        for r in records if (r["results"].get("content") or {}).get("quality") == "poor"]

        @hookimpl
        def register_processors():
            return [PoorToReview()]
    """


@hookspec
def config_defaults() -> dict[str, dict[str, Any]]:
    """Default config sections this plugin declares, ``{section: {key: default}}``, merged under
    ``plugins:`` in the settings (an analyzer's own ``config_defaults`` class attribute is collected
    automatically; use this hook for plugins without analyzers).

    Example::

        @hookimpl
        def config_defaults():
            return {"backup": {"bucket": None, "keep_days": 30}}
    """


@hookspec
def run_started(run: Any) -> None:
    """A run of ``analyze`` begins. ``run`` has ``run_id``, ``root``, ``settings`` and ``analyzers``
    (the selected analyzer names).

    Example::

        @hookimpl
        def run_started(run):
            print(f"run {run.run_id} on {run.root}")
    """


@hookspec
def run_finished(run: Any, summary: dict[str, Any]) -> None:
    """A run of ``analyze`` ended; ``summary`` is what ``_summary.json`` holds.

    Example::

        @hookimpl
        def run_finished(run, summary):
            notify(f"{summary['analyzed']} photos analysed, {summary['failed']} failed")
    """


@hookspec
def photo_analyzed(path: Any, results: dict[str, Any]) -> None:
    """One photo's per-file analyzers finished (in the parent process, before the catalog write).
    ``results`` maps analyzer name to its result dict (None for a failed analyzer).

    Example::

        @hookimpl
        def photo_analyzed(path, results):
            if (results.get("content") or {}).get("quality") == "poor":
                poor.append(path)
    """


@hookspec
def file_moved(src: Any, dst: Any, kind: str) -> None:
    """A file moved. ``kind`` says how:

    * ``"move"``: imgengine moved it through its journal (``rename``, ``organize``, ``duplicates --move``,
      ``process``); announced once per file, after the move is durable;
    * ``"trash"``: the journal moved it into the run's trash (``duplicates --trash``); undo can bring it back;
    * ``"undo"``: ``imgengine undo`` put it back where it was (``src`` is where it had gone);
    * ``"found"``: ``analyze`` recognised a catalogued file at a new path by its sha256 (moved by hand).

    A listener that raises is reported (a warning line naming the plugin; in ``analyze`` also the run log)
    and never stops or undoes the move. ``kind`` is optional: a listener may take only ``src`` and ``dst``.

    Example::

        @hookimpl
        def file_moved(src, dst, kind):
            if kind != "trash":
                gallery.update_link(src, dst)
    """
