#!/usr/bin/env python3
"""Train a scene classifier (timm backbone or CLIP linear probe); --gpu = --device cuda.

A thin wrapper over `imgengine train scene` (same options; see training/README.md), kept under the documented
script name.
"""

from imgengine.cli.train import script_main

if __name__ == "__main__":
    script_main("scene")
