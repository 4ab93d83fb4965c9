"""`python -m settlement settle|report ...`: the same commands as `lps settle|report`."""

import sys

from settlement.cli import main

sys.exit(main())
