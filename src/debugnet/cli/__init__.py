"""The ``debugnet`` command: one subcommand per module of this package.

Each subcommand module offers ``configure(parser)`` and ``run(args) -> int``
and keeps its heavy imports inside ``run`` so ``debugnet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from debugnet import __version__
from debugnet.errors import DebugnetError

SUBCOMMANDS: dict[str, str] = {
    "serve": "receive kernel dumps (a netdumpd-compatible server)",
    "send": "send a file or memory image to a dump server",
    "ifconfig": "show the interface table as the debugnet stack sees it",
    "dumps": "list, triage, decrypt and extract the dumps the server collected",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="debugnet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"debugnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"debugnet.cli.{name}")
        module.configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(f"debugnet.cli.{args.command}")
    try:
        code: int = module.run(args)
    except DebugnetError as exc:
        print(f"debugnet {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
