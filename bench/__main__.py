"""``python -m bench [--smoke]``: see ``bench.runner``."""

from .runner import main

raise SystemExit(main())
