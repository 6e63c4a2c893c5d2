"""``python -m distser COMMAND ...``: the same as the ``distser`` console script."""

from distser.cli import console

console()
