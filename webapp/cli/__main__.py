"""``python -m webapp.cli``: the same as the ``inkling`` command."""

import sys

from webapp.cli import main

sys.exit(main())
