"""Analyzers: small modules, each a name, a version and ``analyze(item) -> result dataclass`` (per-file) or
``load(device)`` + ``run(batch)`` (batch, see :mod:`.base`).

They join a run through the ``register_analyzers`` plugin hook: the built-in ones through
:mod:`imgengine.plugins.builtin`, third-party ones through an entry point or a plugin folder.
"""
