"""The ``debugnet`` command: one subcommand per module of this package.

Each subcommand module offers ``configure(parser)`` and ``run(args) -> int``
and keeps its heavy imports inside ``run`` so ``debugnet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from debugnet import __version__
from debugnet.errors import DebugnetError

SUBCOMMANDS: dict[str, str] = {
    "serve": "receive kernel dumps (a netdumpd-compatible server)",
    "send": "send a file or memory image to a dump server",
    "netdump": "send over the raw path, with ddb's -s/-g/-c/-i",
    "ifconfig": "show the interface table as the debugnet stack sees it",
    "netgdb-proxy": "bridge a panicked kernel's netgdb to gdb's target remote",
    "netgdb-target": "play a panicked kernel's netgdb over a memory image (practice, tests)",
    "dumps": "list, triage, decrypt and extract the dumps the server collected",
    "web": "the dashboard and JSON API over the dumps the server collected",
}


def _module(name: str) -> str:
    return f"debugnet.cli.{name.replace('-', '_')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="debugnet",
        description=(
            "Network crash dumps and remote debugging: a netdumpd-compatible server,"
            " a sending client, and a netgdb proxy."
        ),
        epilog="`debugnet COMMAND -h` describes each command's options.",
        # room for the longest command name, so each command stays on one line
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=24, width=100),
    )
    parser.add_argument("--version", action="version", version=f"debugnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(_module(name))
        module.configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        # A usage error as argparse treats a missing argument (exit 2), but with
        # the list of commands rather than only "the following arguments are required".
        parser.print_help(sys.stderr)
        return 2
    args = parser.parse_args(argv)
    module = importlib.import_module(_module(args.command))
    try:
        code: int = module.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here
    except DebugnetError as exc:
        print(f"debugnet {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`debugnet dumps show ID | head`): as cat does,
        # stop quietly. Point stdout at /dev/null so the interpreter's final
        # flush of the buffered rest does not raise a second time at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
