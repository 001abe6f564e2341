"""``python -m benchmarks`` is the ``aebench`` command."""

import sys

from benchmarks.cli import main

sys.exit(main())
