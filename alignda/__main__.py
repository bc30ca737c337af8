"""``python -m alignda``."""

import sys

from alignda.cli import main

sys.exit(main())
