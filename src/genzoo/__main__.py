"""`python -m genzoo` is the `genzoo` command."""

from genzoo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
