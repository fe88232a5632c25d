"""`python -m c3t.app.cli`: the same as the `c3t` command."""
import sys

from c3t.app.cli import main

sys.exit(main())
