"""`python -m inkless` runs the command line."""

from inkless.cli import main

main()
