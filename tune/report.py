"""Shim kept for existing scripts: the same as ``distser report`` (``distser report --help``)."""

import sys

from distser.report import main

if __name__ == "__main__":
    sys.exit(main())
