"""`debugnet ifconfig`."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(command="ifconfig")


def run(args: argparse.Namespace) -> int:
    print("debugnet ifconfig: not implemented yet", file=sys.stderr)
    return 2
