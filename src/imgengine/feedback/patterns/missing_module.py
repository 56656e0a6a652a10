"""ImportError / ModuleNotFoundError → the right distribution added to the plugin's requirements.

The import name is not always the distribution's (``cv2`` is ``opencv-python-headless``, ``PIL`` is
``Pillow``). The fix adds the line to ``requirements.txt`` next to the plugin and prints the install
command; the loop never runs pip itself. Imports of imgengine's own modules, relative imports and
``cannot import name`` errors (a wrong name, not a missing package) are not this bug.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..grouping import ErrorGroup
from ..source import SourceContext
from .base import Fix, FixPattern

DISTRIBUTIONS = {
    "cv2": "opencv-python-headless", "PIL": "Pillow", "yaml": "PyYAML", "sklearn": "scikit-learn",
    "skimage": "scikit-image", "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "exifread": "ExifRead",
    "piexif": "piexif", "imagehash": "ImageHash", "pillow_heif": "pillow-heif", "numpy": "numpy",
    "scipy": "scipy", "pandas": "pandas", "torch": "torch", "torchvision": "torchvision", "timm": "timm",
    "transformers": "transformers", "onnxruntime": "onnxruntime", "onnx": "onnx", "matplotlib": "matplotlib",
    "requests": "requests", "tqdm": "tqdm", "rawpy": "rawpy", "tifffile": "tifffile", "imageio": "imageio",
    "magic": "python-magic", "dotenv": "python-dotenv", "Crypto": "pycryptodome", "jwt": "PyJWT",
    "rapidocr_onnxruntime": "rapidocr-onnxruntime", "rapidocr": "rapidocr", "reverse_geocode": "reverse-geocode",
    "face_recognition": "face-recognition", "insightface": "insightface", "pytesseract": "pytesseract",
    "exiv2": "exiv2", "pyexiv2": "pyexiv2", "zmq": "pyzmq", "usb": "pyusb", "serial": "pyserial",
}
_MISSING = re.compile(r"No module named '(?P<name>[^']+)'")


def requirements_file(source_file: Path) -> Path:
    """``requirements.txt`` in the plugin's folder (a package plugin: the package's parent folder)."""
    folder = Path(source_file).parent
    if (folder / "__init__.py").exists():
        folder = folder.parent
    return folder / "requirements.txt"


def listed(text: str, distribution: str) -> bool:
    norm = re.sub(r"[-_.]+", "-", distribution).lower()
    for line in text.splitlines():
        name = re.split(r"[\s<>=!~;\[#]", line.strip(), maxsplit=1)[0]
        if name and re.sub(r"[-_.]+", "-", name).lower() == norm:
            return True
    return False


class MissingModulePattern(FixPattern):
    name = "missing-requirement"
    exception_types = ("ModuleNotFoundError", "ImportError")
    description = "No module named X → its distribution added to the plugin's requirements.txt"
    prior = (3.0, 1.0)
    kind = "requirements"

    def matches(self, group: ErrorGroup, source: SourceContext | None) -> Fix | None:
        if group.exception_type not in self.exception_types or not group.source_file:
            return None
        m = _MISSING.search(group.message)
        if m is None:
            return None  # "cannot import name ...": a wrong name, not a missing package
        top = m["name"].split(".")[0]
        dist = DISTRIBUTIONS.get(top)
        if dist is None or top == "imgengine":
            return None
        req = requirements_file(Path(group.source_file))
        try:
            current = req.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        if listed(current, dist):
            return None  # already required: the user has not installed it; nothing to change in files
        fix = Fix(self.name, group.fingerprint, req, group.source_line or 0,
                  f"add {dist} (provides '{top}') to {req.name}", certainty=0.95, kind=self.kind,
                  data={"distribution": dist, "module": top})
        fix.notes.append(f"install it with: {Path(sys.executable).name} -m pip install {dist}")
        return fix

    def rewrite_text(self, text: str, fix: Fix) -> str:
        if listed(text, fix.data["distribution"]):
            return text
        sep = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{sep}{fix.data['distribution']}\n"
