"""Shim kept for existing scripts: the same as ``distser search`` (``distser search --help``)."""

import sys

from distser.search import main

if __name__ == "__main__":
    sys.exit(main())
