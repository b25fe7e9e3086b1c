"""The Python builder: dependencies installed for the Lambda runtime, layers, handler checks.

See ``DESIGN.md`` beside this file for scope, hard parts and the interface.
"""

from lambdaforge.builders.python.builder import PythonBuilder

__all__ = ["PythonBuilder"]
