#!/usr/bin/env python3
"""Export a checkpoint to ONNX or TorchScript with a model card and a parity check.

A thin wrapper over `imgengine train export` (same options; see training/README.md), kept under the documented
script name.
"""

from imgengine.cli.train import script_main

if __name__ == "__main__":
    script_main("export")
