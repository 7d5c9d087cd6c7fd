"""Safety: user text made inert (memory block, terminal, HTML), secrets redacted, and the
bubblewrap sandbox for model-written code.

Imports only the leaves (`errors`).
"""
