"""`debugnet send`."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(command="send")


def run(args: argparse.Namespace) -> int:
    print("debugnet send: not implemented yet", file=sys.stderr)
    return 2
