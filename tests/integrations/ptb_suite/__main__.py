"""python -m tests.integrations.ptb_suite: PTB's own persistence tests on aiokv (see run.py)."""

import sys

from tests.integrations.ptb_suite.run import main

sys.exit(main(sys.argv[1:]))
