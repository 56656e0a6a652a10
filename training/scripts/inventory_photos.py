#!/usr/bin/env python3
"""Take stock of a photo collection against the recommended distribution.

A thin wrapper over `imgengine train inventory` (same options; see training/README.md), kept under the documented
script name.
"""

from imgengine.cli.train import script_main

if __name__ == "__main__":
    script_main("inventory")
