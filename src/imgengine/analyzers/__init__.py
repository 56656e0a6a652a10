"""Analyzers: small modules, each a name, a version and ``analyze(item) -> result dataclass``.

To add one: write a module with an ``Analyzer`` subclass and list it in ``registry.BUILTIN``.
"""
