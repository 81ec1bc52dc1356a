"""``python -m faceoff``: the same as the ``faceoff`` command."""

import sys

from faceoff.cli import main

sys.exit(main())
