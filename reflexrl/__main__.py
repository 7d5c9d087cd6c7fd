"""`python -m reflexrl` runs the CLI."""

from .cli.app import main

main()
