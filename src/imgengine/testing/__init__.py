"""Test and demo support, kept out of the product modules: used by the tests, the examples and the benchmarks
(and by third-party plugin authors for theirs).

* :mod:`.samples` — camera-like photos drawn in code (EXIF written with piexif), nothing downloaded;
* :mod:`.models` — tiny randomly initialised CLIP and DETR folders saved exactly like downloaded ones,
  loaded through the real loading code;
* :mod:`.text` — character accuracy of recognised text against rendered text (OCR tests and benchmark).

Nothing in ``imgengine`` outside this package imports it.
"""
