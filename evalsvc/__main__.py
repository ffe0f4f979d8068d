"""``python -m evalsvc`` is the same as the ``evalsvc`` console script."""

from __future__ import annotations

import sys

from evalsvc.cli import main

if __name__ == "__main__":
    sys.exit(main())
