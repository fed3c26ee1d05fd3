"""`python -m omnichat`: the same program as `python run.py` (and `omnichat` once installed)."""

from omnichat.cli import main

raise SystemExit(main())
