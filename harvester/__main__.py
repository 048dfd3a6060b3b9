"""Allow ``python -m harvester``."""

import sys

from harvester.cli import main

sys.exit(main())
