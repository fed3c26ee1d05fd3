"""Run Omnichat: `python run.py` serves; `python run.py --help` lists the other commands."""

from omnichat.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
