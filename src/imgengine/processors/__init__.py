"""Processors that change files: plan -> preview -> apply through the journal -> undo."""
