"""Core: photos and formats, safe decoding, scanning, the catalog and the analysis pipeline."""
