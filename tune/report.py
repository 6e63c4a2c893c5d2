"""Regenerate the paper's tables and figures from MLflow: ``python tune/report.py --help``."""

import sys

from distser.report import main

if __name__ == "__main__":
    sys.exit(main())
