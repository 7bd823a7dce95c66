"""`debugnet serve`."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(command="serve")


def run(args: argparse.Namespace) -> int:
    print("debugnet serve: not implemented yet", file=sys.stderr)
    return 2
