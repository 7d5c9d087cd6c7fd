"""The `reflexrl` command line. Commands parse and print; the library does the work.

The top of the import graph: it may import every other subpackage; nothing imports it.
"""

from .app import app, main

__all__ = ["app", "main"]
