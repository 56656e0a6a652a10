"""The curated zero-shot label set for CLIP scenes, and how a user replaces it.

Labels are grouped: ``setting`` (indoor/outdoor, scored on its own), and the groups ranked together
for the top scenes: Places365-style places, events, and documents/screenshots. A user can replace the
set with a YAML file ``<models_dir>/clip_labels.yaml`` mapping group -> list of labels; a label set's
fingerprint is part of the CLIP result version, so changing it re-runs CLIP on the next analyze.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError

LABELS_FILE = "clip_labels.yaml"
PROMPT = "a photo of {}."

DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "setting": ("indoors", "outdoors"),
    "place": (
        "a beach", "the ocean", "a lake", "a river", "a waterfall", "a mountain", "a snowy landscape",
        "a forest", "a field", "a desert", "a park", "a garden", "a farm", "a city street", "a skyline",
        "a bridge", "a highway", "a parking lot", "a train station", "an airport", "an airplane cabin",
        "a harbor with boats", "a swimming pool", "a playground", "a stadium", "a church", "a temple",
        "a castle", "a museum", "a shop", "a market", "a restaurant", "a bar", "a cafe", "a kitchen",
        "a living room", "a bedroom", "a bathroom", "an office", "a classroom", "a library", "a gym",
        "a hospital room", "a hotel room", "a campsite", "a night sky", "a sunset", "fireworks",
    ),
    "event": (
        "a birthday party", "a wedding", "a concert", "a festival", "a sports game", "a graduation",
        "a family dinner", "a picnic", "a christmas celebration", "a conference talk",
    ),
    "subject": (
        "a portrait of a person", "a group of people", "a selfie", "a baby", "a dog", "a cat", "a bird",
        "a horse", "food on a plate", "a car", "flowers", "a building", "art", "a screen with text",
    ),
    "document": ("a document", "a screenshot", "a receipt", "a whiteboard", "a map", "a book page"),
}


@dataclass(frozen=True)
class LabelSet:
    groups: dict[str, tuple[str, ...]]

    @property
    def setting(self) -> tuple[str, ...]:
        return self.groups.get("setting", ())

    @property
    def ranked(self) -> list[tuple[str, str]]:
        """(group, label) for every label ranked together for the top scenes."""
        return [(g, label) for g, labels in self.groups.items() if g != "setting" for label in labels]

    def prompts(self, labels: list[str] | tuple[str, ...]) -> list[str]:
        return [PROMPT.format(label) for label in labels]

    @property
    def fingerprint(self) -> str:
        text = repr(sorted((g, tuple(v)) for g, v in self.groups.items())) + PROMPT
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def load_labels(models_dir: Path) -> LabelSet:
    """The user's label file if there is one, else the built-in set."""
    path = Path(models_dir).expanduser() / LABELS_FILE
    if not path.is_file():
        return LabelSet(dict(DEFAULT_LABELS))
    import yaml  # only with a label file: `search` imports this module for model_version, not for YAML

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"label file {path}: cannot read ({str(exc).splitlines()[0]})")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"label file {path}: expected a mapping of group: [labels]")
    groups: dict[str, tuple[str, ...]] = {}
    for group, labels in data.items():
        if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise ConfigError(f"label file {path}: group {group!r} must be a list of non-empty strings")
        groups[str(group)] = tuple(x.strip() for x in labels)
    if not any(g != "setting" for g in groups):
        raise ConfigError(f"label file {path}: needs at least one group besides 'setting'")
    return LabelSet(groups)
