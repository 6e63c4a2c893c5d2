"""Hyperparameter search for multi-corpus SER on Ray Tune: ``python tune/search.py --help``."""

import sys

from distser.search import main

if __name__ == "__main__":
    sys.exit(main())
