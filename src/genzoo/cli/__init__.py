"""The `genzoo` command. Each sub-command lives in its own module with `register(subparsers)`.

Errors that genzoo raises on purpose (GenzooError) print as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from genzoo.errors import GenzooError, TrainingInterrupted

# Modules under genzoo.cli, each with register(subparsers) adding its sub-command(s) and handlers that
# take the parsed args and return an exit code.
COMMANDS = ("list_cmd", "train", "sample", "evaluate", "analyze", "info", "demo", "lab", "leaderboard", "augment")


def build_parser() -> argparse.ArgumentParser:
    import genzoo
    from genzoo.cli.text import one_line_parser_class

    parser = one_line_parser_class()(
        prog="genzoo", description="Deep generative models under one API, with verified mathematics."
    )
    parser.add_argument("--version", action="version", version=f"genzoo {genzoo.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        m = importlib.import_module(f"genzoo.cli.{mod}")
        register = getattr(m, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) or a one-line usage error (2): the code is the return value
        return e.code if isinstance(e.code, int) else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TrainingInterrupted as e:
        print(f"genzoo {args.command}: {e}", file=sys.stderr)
        return 128 + int(e.signum)
    except GenzooError as e:
        print(f"genzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genzoo {args.command}: interrupted", file=sys.stderr)
        return 130
