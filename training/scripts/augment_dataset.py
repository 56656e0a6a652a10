#!/usr/bin/env python3
"""Label-preserving augmentation weighted toward the inventory's gaps.

A thin wrapper over `imgengine train augment` (same options; see training/README.md), kept under the documented
script name.
"""

from imgengine.cli.train import script_main

if __name__ == "__main__":
    script_main("augment")
