"""The Node.js builder (runtimes nodejs20.x, nodejs22.x, nodejs24.x); see DESIGN.md."""

from lambdaforge.builders.node.builder import NodeBuilder

__all__ = ["NodeBuilder"]
