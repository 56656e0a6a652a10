"""Each fix pattern on real snippets: the bug it fixes (and the rewritten code runs), and look-alikes it
must not touch. The failing line of a snippet is marked with ``# <- fails``."""

from __future__ import annotations

import textwrap
import types

import cv2
import numpy as np
import pytest

from imgengine.feedback.grouping import ErrorGroup
from imgengine.feedback.patterns import PATTERNS, match
from imgengine.feedback.patterns.container_access import ContainerAccessPattern
from imgengine.feedback.patterns.cv2_imread import Cv2ImreadPattern
from imgengine.feedback.patterns.encoding import EncodingPattern
from imgengine.feedback.patterns.missing_module import MissingModulePattern
from imgengine.feedback.patterns.none_guard import NoneGuardPattern
from imgengine.feedback.patterns.optional_input import OptionalInputPattern
from imgengine.feedback.patterns.zero_division import ZeroDivisionPattern
from imgengine.feedback.source import SourceContext


def _group(src: str, etype: str, message: str, files=("/photos/a.jpg",), path="/plugins/p.py") -> ErrorGroup:
    line = next(i for i, text in enumerate(src.splitlines(), 1) if "# <- fails" in text)
    return ErrorGroup("fp", etype, "plugin", message, message, source_file=path, source_line=line,
                      files=list(files), raw_messages=[message])


def _rewrite(pattern, src: str, etype: str, message: str, **kw):
    src = textwrap.dedent(src)
    ctx = SourceContext(src)
    fix = pattern.matches(_group(src, etype, message, **kw), ctx)
    return fix, (pattern.rewrite(ctx, fix) if fix is not None else None)


def _load(code: str) -> types.ModuleType:
    mod = types.ModuleType("snippet")
    exec(compile(code, "snippet.py", "exec"), mod.__dict__)
    return mod


# -- explicit encoding ----------------------------------------------------------------------------------

CAPTION = """\
    from pathlib import Path

    def caption(photo_path):
        cap = Path(photo_path).with_suffix(".txt")
        with open(cap) as fh:  # the caption file
            return fh.read().strip()  # <- fails

    def raw(photo_path):
        with open(photo_path) as fh:
            return fh.read()
    """


def test_encoding_fixes_the_open_that_made_the_stream(tmp_path):
    fix, new = _rewrite(EncodingPattern(), CAPTION, "UnicodeDecodeError",
                        "'utf-8' codec can't decode byte 0xe9 in position 3: invalid continuation byte")
    assert fix is not None and fix.line == 5
    assert 'with open(cap, encoding="utf-8", errors="replace") as fh:  # the caption file' in new
    assert "    with open(photo_path) as fh:\n" in new          # the other open is not touched
    (tmp_path / "a.txt").write_bytes("Café au lait".encode("latin-1"))
    assert _load(new).caption(tmp_path / "a.jpg") == "Caf\ufffd au lait"


def test_encoding_read_text_and_write_text():
    fix, new = _rewrite(EncodingPattern(), """\
        def f(p, q):
            text = p.read_text()  # <- fails
            return text
        """, "UnicodeDecodeError", "'utf-8' codec can't decode byte 0xff")
    assert 'p.read_text(encoding="utf-8", errors="replace")' in new
    fix, new = _rewrite(EncodingPattern(), """\
        def f(p, text):
            p.write_text(text)  # <- fails
        """, "UnicodeEncodeError", "'ascii' codec can't encode character '\\xe9'")
    assert 'p.write_text(text, encoding="utf-8")' in new and "errors" not in new


@pytest.mark.parametrize("line", [
    'data = open(p, "rb").read()  # <- fails',                     # binary mode
    'data = open(p, encoding="latin-1").read()  # <- fails',       # an encoding already chosen
    'data = open(p, mode).read()  # <- fails',                     # a mode we cannot read
    'img = Image.open(p)  # <- fails',                             # PIL, not a text open
    'text = payload.decode()  # <- fails',                         # bytes.decode is not an open
    'data = gzip.open(p).read()  # <- fails',
])
def test_encoding_leaves_look_alikes(line):
    src = f"def f(p, mode, payload):\n    {line}\n    return data\n"
    fix, _ = _rewrite(EncodingPattern(), src, "UnicodeDecodeError", "'utf-8' codec can't decode byte 0xe9")
    assert fix is None


def test_encoding_decode_error_at_a_write_is_not_this_bug():
    fix, _ = _rewrite(EncodingPattern(), "def f(p, t):\n    open(p, 'w').write(t)  # <- fails\n",
                      "UnicodeDecodeError", "'utf-8' codec can't decode byte 0xe9")
    assert fix is None


# -- optional input -------------------------------------------------------------------------------------

SIDECAR = """\
    import json

    def caption(photo_path):
        cap = photo_path.with_suffix(".txt")
        text = cap.read_text().strip()  # <- fails
        return text

    def sidecar(photo_path):
        with open(str(photo_path) + ".json") as fh:  # <- fails
            meta = json.loads(fh.read())
            title = meta["title"]
        return title
    """


def test_optional_input_expression_guard(tmp_path):
    src = SIDECAR.replace("  # <- fails", "", 2).replace("strip()", "strip()  # <- fails", 1)
    fix, new = _rewrite(OptionalInputPattern(), src, "FileNotFoundError",
                        f"[Errno 2] No such file or directory: '{tmp_path}/a.txt'", files=[f"{tmp_path}/a.jpg"])
    assert fix is not None
    assert 'text = (cap.read_text().strip() if os.path.exists(cap) else "")' in new
    assert new.startswith("import json\nimport os\n") or "import os" in new
    mod = _load(new)
    assert mod.caption(tmp_path / "a.jpg") == ""
    (tmp_path / "a.txt").write_text(" hello ", encoding="utf-8")
    assert mod.caption(tmp_path / "a.jpg") == "hello"


def test_optional_input_with_block(tmp_path):
    src = SIDECAR.replace("strip()  # <- fails", "strip()")
    fix, new = _rewrite(OptionalInputPattern(), src, "FileNotFoundError",
                        f"[Errno 2] No such file or directory: '{tmp_path}/a.jpg.json'")
    assert fix is not None
    assert "if os.path.exists(str(photo_path) + \".json\"):\n        with open(" in new
    assert "    else:\n        meta = None\n        title = None\n" in new
    mod = _load(new)
    assert mod.sidecar(tmp_path / "a.jpg") is None
    (tmp_path / "a.jpg.json").write_text('{"title": "Beach"}', encoding="utf-8")
    assert mod.sidecar(tmp_path / "a.jpg") == "Beach"


@pytest.mark.parametrize("line,missing", [
    ('data = open(item.photo.path, "rb").read()  # <- fails', "/photos/x.txt"),   # the photo itself
    ('data = open(side, "rb").read()  # <- fails', "/photos/a.jpg"),              # the failing photo's path
    ('data = open(side).read()  # <- fails', "/photos/other.JPG"),                 # another photo
    ('open(side, "w").write("x")  # <- fails', "/photos/x.txt"),                    # writing, not reading
    ('data = json.load(side)  # <- fails', "/photos/x.txt"),                        # not an open on this line
])
def test_optional_input_never_wraps_the_photo(line, missing):
    src = f"def f(item, side):\n    {line}\n    return data\n"
    fix, _ = _rewrite(OptionalInputPattern(), src, "FileNotFoundError",
                      f"[Errno 2] No such file or directory: '{missing}'")
    assert fix is None


# -- cv2.imread -----------------------------------------------------------------------------------------

IMREAD = """\
    import cv2

    def sharpness(path):
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        h, w = img.shape  # <- fails
        return float(cv2.Laplacian(img, cv2.CV_64F).var()) / (h * w)

    def save(path, img):
        cv2.imwrite(str(path), img)
        return cv2.imread(str(path))
    """


def test_cv2_imread_becomes_imdecode_and_reads_an_emoji_path(tmp_path):
    photo = tmp_path / "plage 🏖 été.png"
    fix, new = _rewrite(Cv2ImreadPattern(), IMREAD, "AttributeError",
                        "'NoneType' object has no attribute 'shape'", files=[str(photo)])
    assert fix is not None and fix.certainty > 0.9
    assert "img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_GRAYSCALE)" in new
    assert "import numpy as np" in new
    assert "cv2.imwrite(str(path), img)\n    return cv2.imread(str(path))" in new   # other function untouched
    ok, buf = cv2.imencode(".png", np.full((8, 6), 128, np.uint8))
    photo.write_bytes(buf.tobytes())
    assert _load(new).sharpness(photo) == 0.0


def test_cv2_pattern_look_alikes():
    # the None comes from somewhere else: not this pattern (the None guard takes it)
    src = "import cv2\n\ndef f(exif):\n    return exif.get('x').shape  # <- fails\n"
    fix, _ = _rewrite(Cv2ImreadPattern(), src, "AttributeError", "'NoneType' object has no attribute 'shape'")
    assert fix is None
    # no cv2 import at all
    src = "def f(reader, p):\n    img = reader.imread(p)\n    return img.shape  # <- fails\n"
    assert _rewrite(Cv2ImreadPattern(), src, "AttributeError", "'NoneType' object has no attribute 'shape'")[0] is None
    # an ASCII path: imread returning None is more likely a missing file; a weak match only
    fix, _ = _rewrite(Cv2ImreadPattern(), IMREAD, "AttributeError", "'NoneType' object has no attribute 'shape'",
                      files=["/photos/plain.png"])
    assert fix is not None and fix.certainty < 0.7


# -- division -------------------------------------------------------------------------------------------

RATIO = """\
    def contrast(img, folder):
        out = folder / "contrast.txt"
        half = img.size / 2
        ratio = float(img.max()) / float(img.mean())  # <- fails
        return {"ratio": ratio, "half": half, "label": "%d px" % img.size, "out": out}
    """


def test_division_guarded_with_the_neutral_value(tmp_path):
    fix, new = _rewrite(ZeroDivisionPattern(), RATIO, "ZeroDivisionError", "float division by zero")
    assert "ratio = (float(img.max()) / float(img.mean()) if float(img.mean()) else 0.0)  # <- fails" in new
    assert 'out = folder / "contrast.txt"' in new and "half = img.size / 2" in new
    mod = _load(new)
    assert mod.contrast(np.zeros((4, 4), np.uint8), tmp_path)["ratio"] == 0.0
    assert mod.contrast(np.full((4, 4), 10, np.uint8), tmp_path)["ratio"] == 1.0


def test_literal_numerator_is_guarded():
    fix, new = _rewrite(ZeroDivisionPattern(), "def f(m):\n    return 128.0 / m  # <- fails\n",
                        "ZeroDivisionError", "float division by zero")
    assert "return (128.0 / m if m else 0.0)" in new


def test_integer_floor_division_gets_an_int():
    fix, new = _rewrite(ZeroDivisionPattern(), "def f(a, n):\n    return a // n  # <- fails\n",
                        "ZeroDivisionError", "integer division or modulo by zero")
    assert "return (a // n if n else 0)" in new


@pytest.mark.parametrize("line", [
    "return img.size / 2  # <- fails",
    'return folder / "name"  # <- fails',
    'return "%d px" % n  # <- fails',
    "return a * n  # <- fails",
])
def test_division_look_alikes(line):
    fix, _ = _rewrite(ZeroDivisionPattern(), f"def f(img, folder, a, n):\n    {line}\n",
                      "ZeroDivisionError", "division by zero")
    assert fix is None


# -- missing module -------------------------------------------------------------------------------------

@pytest.mark.parametrize("module,dist", [("cv2", "opencv-python-headless"), ("PIL.Image", "Pillow"),
                                         ("yaml", "PyYAML"), ("sklearn.cluster", "scikit-learn"),
                                         ("skimage", "scikit-image")])
def test_missing_module_maps_import_names_to_distributions(tmp_path, module, dist):
    plugin = tmp_path / "p.py"
    plugin.write_text(f"import {module}\n", encoding="utf-8")
    g = ErrorGroup("fp", "ModuleNotFoundError", "plugin", f"No module named '{module}'", "", str(plugin),
                   source_file=str(plugin), source_line=1)
    pattern = MissingModulePattern()
    fix = pattern.matches(g, None)
    assert fix is not None and fix.file == tmp_path / "requirements.txt"
    assert any(f"pip install {dist}" in n for n in fix.notes)
    assert pattern.rewrite_text("numpy>=1.26", fix) == f"numpy>=1.26\n{dist}\n"


@pytest.mark.parametrize("etype,message", [
    ("ImportError", "cannot import name 'foo' from 'numpy'"),       # a wrong name, not a missing package
    ("ModuleNotFoundError", "No module named 'imgengine.nothere'"),  # our own package
    ("ModuleNotFoundError", "No module named 'my_private_helpers'"), # no known distribution: manual review
    ("ModuleNotFoundError", "No module named 'cv2'"),                # already in requirements.txt
])
def test_missing_module_look_alikes(tmp_path, etype, message):
    plugin = tmp_path / "p.py"
    plugin.write_text("import x\n", encoding="utf-8")
    (tmp_path / "requirements.txt").write_text("opencv-python-headless>=4.8\n", encoding="utf-8")
    g = ErrorGroup("fp", etype, "plugin", message, "", source_file=str(plugin), source_line=1)
    assert MissingModulePattern().matches(g, None) is None


# -- None guard -----------------------------------------------------------------------------------------

EXIF = """\
    def taken(exif, label):
        day = exif.get("DateTimeOriginal").split(" ")[0]  # <- fails
        name = label.split(" ")
        return day, name
    """


def test_none_guard_on_the_access_chain():
    fix, new = _rewrite(NoneGuardPattern(), EXIF, "AttributeError", "'NoneType' object has no attribute 'split'")
    assert ('day = (exif.get("DateTimeOriginal").split(" ")[0] if exif.get("DateTimeOriginal") is not None '
            'else None)  # <- fails') in new
    assert 'name = label.split(" ")' in new
    mod = _load(new)
    assert mod.taken({}, "a b") == (None, ["a", "b"])
    assert mod.taken({"DateTimeOriginal": "2020:01:02 10:00:00"}, "a")[0] == "2020:01:02"


def test_none_guard_subscript():
    fix, new = _rewrite(NoneGuardPattern(), "def f(m):\n    return m.get('gps')['lat']  # <- fails\n",
                        "TypeError", "'NoneType' object is not subscriptable")
    assert "return (m.get('gps')['lat'] if m.get('gps') is not None else None)" in new


@pytest.mark.parametrize("line,message", [
    ('return exif.split(" ")  # <- fails', "'str' object has no attribute 'splitt'"),   # not None
    ("result.count = 1  # <- fails", "'NoneType' object has no attribute 'count'"),   # assignment target
    ("return self.model.run(x)  # <- fails", "'NoneType' object has no attribute 'model'"),  # self
    ("return exif.keys()  # <- fails", "'NoneType' object has no attribute 'split'"),  # another attribute
])
def test_none_guard_look_alikes(line, message):
    fix, _ = _rewrite(NoneGuardPattern(), f"def f(self, exif, result, x):\n    {line}\n", "AttributeError", message)
    assert fix is None


# -- container access -----------------------------------------------------------------------------------

def test_key_error_becomes_get():
    fix, new = _rewrite(ContainerAccessPattern(), """\
        def gps(meta):
            lat = meta["GPSInfo"]["lat"]  # <- fails
            return lat, meta["Make"]
        """, "KeyError", "'GPSInfo'")
    assert 'lat = meta.get("GPSInfo", {})["lat"]  # <- fails' in new and 'meta["Make"]' in new
    fix, new = _rewrite(ContainerAccessPattern(), "def f(m):\n    return m['Make']  # <- fails\n", "KeyError",
                        "'Make'")
    assert "return m.get('Make')" in new and _load(new).f({}) is None


def test_index_error_gets_a_length_guard():
    fix, new = _rewrite(ContainerAccessPattern(), "def f(boxes):\n    return boxes[0]  # <- fails\n",
                        "IndexError", "list index out of range")
    assert "return (boxes[0] if len(boxes) > 0 else None)" in new
    assert _load(new).f([]) is None and _load(new).f([7]) == 7


@pytest.mark.parametrize("line,message", [
    ('return os.environ["HOME"]  # <- fails', "'HOME'"),      # a missing setting stays loud
    ('d["n"] += 1  # <- fails', "'n'"),                       # += on a missing key is a logic bug
    ("return d[key]  # <- fails", "'n'"),                      # a variable key
    ('return d["other"]  # <- fails', "'n'"),                  # not the key in the message
    ('del d["n"]  # <- fails', "'n'"),
])
def test_container_look_alikes(line, message):
    fix, _ = _rewrite(ContainerAccessPattern(), f"import os\n\ndef f(d, key):\n    {line}\n", "KeyError", message)
    assert fix is None


def test_unknown_error_matches_no_pattern():
    src = "def f(x):\n    raise RuntimeError('model exploded')  # <- fails\n"
    assert match(_group(src, "RuntimeError", "model exploded"), SourceContext(src)) is None


def test_every_pattern_has_a_name_and_prior():
    names = [p.name for p in PATTERNS]
    assert len(set(names)) == len(names)
    assert all(p.prior[0] > 0 and p.prior[1] > 0 and p.description for p in PATTERNS)
