"""A parsed source file with positions and parents: what fix patterns look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import CodeRange, MetadataWrapper, ParentNodeProvider, PositionProvider

N = TypeVar("N", bound=cst.CSTNode)


class SourceContext:
    """One source text parsed once. Patterns find target nodes here; their transformers match those
    very node objects (identity) in ``module``, so a rewrite touches exactly what was matched."""

    def __init__(self, text: str, path: Path | None = None):
        self.text = text
        self.path = path
        self.wrapper = MetadataWrapper(cst.parse_module(text))
        self.module = self.wrapper.module
        self.positions: dict[cst.CSTNode, CodeRange] = dict(self.wrapper.resolve(PositionProvider))
        self.parents: dict[cst.CSTNode, cst.CSTNode] = dict(self.wrapper.resolve(ParentNodeProvider))

    @classmethod
    def from_file(cls, path: Path) -> SourceContext:
        return cls(Path(path).read_text(encoding="utf-8"), Path(path))

    def nodes_on_line(self, line: int, kind: type[N]) -> list[N]:
        """Nodes of ``kind`` whose span contains ``line``, innermost (shortest) first."""
        found = [(n, r) for n, r in self.positions.items()
                 if isinstance(n, kind) and r.start.line <= line <= r.end.line]
        found.sort(key=lambda nr: (nr[1].end.line - nr[1].start.line, -nr[1].start.line, -nr[1].start.column))
        return [n for n, _ in found]

    def nodes_starting_on(self, line: int, kind: type[N]) -> list[N]:
        return [n for n in self.nodes_on_line(line, kind) if self.positions[n].start.line == line]

    def line_of(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def enclosing(self, node: cst.CSTNode, kind: type[N]) -> N | None:
        for a in self.ancestors(node):
            if isinstance(a, kind):
                return a
        return None

    def statement_of(self, node: cst.CSTNode) -> cst.BaseStatement | None:
        """The statement (simple line or compound) that contains ``node``."""
        for a in self.ancestors(node):
            if isinstance(a, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return a
        return None

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def walk(self, root: cst.CSTNode, kind: type[N]) -> Iterator[N]:
        """Every node of ``kind`` under ``root`` (in source order)."""
        found = [n for n in self.positions if isinstance(n, kind) and self._under(n, root)]
        found.sort(key=lambda n: (self.positions[n].start.line, self.positions[n].start.column))
        return iter(found)

    def _under(self, node: cst.CSTNode, root: cst.CSTNode) -> bool:
        return node is root or any(a is root for a in self.ancestors(node))

    def imported_as(self, module: str) -> str | None:
        """The local name a top-level ``import module [as x]`` binds, or None."""
        for stmt in self.module.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        if self.module.code_for_node(alias.name) == module:
                            if alias.asname is not None:
                                return self.module.code_for_node(alias.asname.name)
                            return module
        return None


def add_imports(module: cst.Module, *imports: tuple[str, str | None]) -> cst.Module:
    """Add ``import module [as asname]`` lines where missing (libcst's own import placement)."""
    context = CodemodContext()
    for name, asname in imports:
        AddImportsVisitor.add_needed_import(context, name, asname=asname)
    return AddImportsVisitor(context).transform_module(module)


class Replace(cst.CSTTransformer):
    """Replace the given original nodes (by identity) with new ones."""

    def __init__(self, replacements: dict[cst.CSTNode, cst.CSTNode | cst.FlattenSentinel]):
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):  # type: ignore[override]
        new = self.replacements.get(original_node)
        return updated_node if new is None else new
