"""`python -m reflexrl` runs the CLI."""

from .cli import main

main()
