"""``python -m pulse_async._cli``: the same as the ``pulse`` console script."""

import sys

from pulse_async._cli._app import main

if __name__ == "__main__":
    sys.exit(main())
