"""``python -m tools.openloop``: see :func:`tools.openloop.main`."""

import sys

from tools.openloop import main

sys.exit(main())
