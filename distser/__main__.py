"""``python -m distser COMMAND ...``: the same as the ``distser`` console script."""

import sys

from distser.cli import main

sys.exit(main())
