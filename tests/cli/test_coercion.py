"""The light option converter (cli/coercion.py) gives what typer's pydantic converter gives, and leaves to it
whatever it cannot be sure of."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imgengine.cli import coercion
from imgengine.cli.app import app

typer_core = pytest.importorskip("typer.core")
if not getattr(typer_core.build_runtime_param, "_imgengine", False):  # pragma: no cover - older typer
    pytest.skip("this typer converts values without pydantic already", allow_module_level=True)

from typer import _param_types  # noqa: E402

FULL = typer_core.build_runtime_param.original
SAMPLES = {"str": ["", "a b", "ünïcode", "--x", "12"],
           "bool": [True, False, "true", "0"],
           "int": ["0", "12", "-3", "+4", "007", " 5", "1_000", "99999999999999999999", "x", "1.5", 3],
           "float": ["1", "1.5", "-0.0", ".5", "5.", "1e3", "+1E-2", "inf", "1_0.5", "x", 2.5, 2],
           "path": ["photos", "a/b", "~/x", "", ".", "/nonexistent/x", Path("p")]}


class _Param:
    multiple = False
    nargs = 1
    name = "x"

    def get_error_hint(self, ctx):
        return "'x'"


def _outcome(runtime, value):
    try:
        return ("ok", runtime._coerce_value(value, param=_Param(), ctx=None))
    except Exception as exc:  # noqa: BLE001 - the comparison is of the exception too
        return ("error", type(exc).__name__, str(exc))


def _all_params():
    from typer.core import TyperArgument, TyperOption
    from typer.main import get_group

    group = get_group(app)
    out = []

    def walk(cmd, path):
        for p in getattr(cmd, "params", []):
            if isinstance(p, (TyperArgument, TyperOption)):
                out.append((path, p))
        for name in getattr(cmd, "list_commands", lambda ctx: [])(None):
            walk(cmd.get_command(None, name), f"{path} {name}")

    walk(group, "imgengine")
    return out


def test_every_light_parameter_converts_like_typer():
    params = _all_params()
    light = [(path, p) for path, p in params if coercion.light_kind(p.type_descriptor, _param_types) is not None]
    assert len(light) > 100 and len(light) / len(params) > 0.8  # the point: most options skip pydantic
    seen = set()
    for path, p in light:
        desc = p.type_descriptor
        kind = coercion.light_kind(desc, _param_types)
        info = desc.parameter_info
        key = (kind, info.min, info.max, repr(info.__dict__) if kind.endswith("path") else "")
        if key in seen:
            continue
        seen.add(key)
        ours, theirs = typer_core.build_runtime_param(desc), FULL(desc)
        assert type(ours).__name__ == "LightRuntimeParam", (path, p.name)
        leaf = kind.removeprefix("list:")
        values = SAMPLES[leaf] + [-1, 0, 10**6, "-1", "1000000"] * (leaf in ("int", "float"))
        if kind.startswith("list:"):
            values = [(v,) for v in values] + [tuple(values[:3]), (), "not a list"]
        for value in values:
            assert _outcome(ours, value) == _outcome(theirs, value), (path, p.name, value)


def test_clamps_parsers_and_other_types_stay_with_typer():
    from typer import _coercion
    from typer.models import OptionInfo

    for ann, info in [(int, OptionInfo(min=1, clamp=True)), (list[tuple[str, int]], OptionInfo()),
                      (int, OptionInfo(parser=int)), (dict, OptionInfo())]:
        desc = _coercion.resolve_type_descriptor(ann, info)
        assert type(typer_core.build_runtime_param(desc)).__name__ != "LightRuntimeParam"


def test_stats_does_not_import_pydantic(tmp_path: Path):
    code = ("import sys; sys.argv = ['imgengine', 'stats', sys.argv[1], '--json']\n"
            "from imgengine.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('pydantic' in sys.modules, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "200"})
    assert "no catalog" in p.stderr  # the command ran (one clear line) ...
    assert p.stderr.strip().splitlines()[-1] == "False"  # ... and parsed its options without pydantic


def test_a_bad_number_reads_as_typer_says(tmp_path: Path):
    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"
    p = subprocess.run([sys.executable, "-c", code, "search", "x", "--limit", "many", "--catalog",
                        str(tmp_path / "c.db")], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == 2 and "Invalid value for '--limit'" in p.stderr and "valid integer" in p.stderr, p.stderr
