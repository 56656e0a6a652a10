#!/usr/bin/env python3
"""Fetch (or ingest with --from) the Places365/COCO classes that fill the inventory's gaps.

A thin wrapper over `imgengine train download` (same options; see training/README.md), kept under the documented
script name.
"""

from imgengine.cli.train import script_main

if __name__ == "__main__":
    script_main("download")
