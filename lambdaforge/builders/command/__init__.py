"""The command builder: your own command makes the zip's content, for any runtime (the only
way to build ``provided.al2023``/``provided.al2`` functions), cached by its declared inputs.

See ``DESIGN.md`` beside this file for scope, hard parts and the interface.
"""

from lambdaforge.builders.command.builder import CommandBuilder

__all__ = ["CommandBuilder"]
