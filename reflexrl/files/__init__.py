"""Files: writes that land whole or not at all, and SQLite files opened safely (checked before
anything is created, read-only connections that change nothing).

Imports only the leaves (`errors`).
"""
