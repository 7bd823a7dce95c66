"""The README's commands stay true: CI runs its test command, its synopses match the parsers."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.strip() for b in _code_blocks(quick)]
    tests = [b for b in blocks if "pytest" in b]
    assert len(tests) == 1, blocks
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests[0] in ci_lines
    # The main job installs nothing optional: the server needs only the stdlib.
    assert blocks[0].endswith("pip install -e . && debugnet serve"), blocks[0]


def _synopsis_options(command: str) -> set[str]:
    """Every --option on README synopsis lines for ``debugnet COMMAND`` and their continuations."""
    found: set[str] = set()
    for block in _code_blocks(README):
        taking = False
        for line in block.splitlines():
            if line.startswith("debugnet "):
                # a synopsis line, not an example: it shows optional parts in brackets
                taking = line.split()[1] == command and "[" in line
            elif not line.startswith(" "):
                taking = False
            if taking:
                found |= set(re.findall(r"(?<![-\w])(--[a-z][-a-z]*)", line))
    return found


def _parser_options(command: str) -> set[str]:
    module = importlib.import_module(f"debugnet.cli.{command.replace('-', '_')}")
    parser = argparse.ArgumentParser()
    module.configure(parser)
    return {
        opt
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    }


@pytest.mark.parametrize("command", ["serve", "web", "netgdb-proxy", "netgdb-target"])
def test_readme_synopsis_names_every_option_and_only_those(command: str) -> None:
    # Options given only in short form in the synopsis (-s, -c) have no long spelling there.
    documented = _synopsis_options(command)
    assert documented, f"no synopsis for debugnet {command} in the README"
    short_only = {"--server", "--client"} if command == "netgdb-target" else set()
    assert documented == _parser_options(command) - short_only


def test_readme_dumps_synopsis_names_every_action_and_its_options() -> None:
    module = importlib.import_module("debugnet.cli.dumps")
    parser = argparse.ArgumentParser()
    module.configure(parser)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [
        line
        for block in _code_blocks(README)
        for line in block.splitlines()
        if line.startswith("debugnet dumps ")
    ]
    for action, sub in subparsers.choices.items():
        synopsis = [ln for ln in lines if ln.split()[2] == action]
        assert synopsis, f"no synopsis line for debugnet dumps {action} in the README"
        shown = set(re.findall(r"(?<![-\w])(--?[a-z][-a-z]*)", " ".join(synopsis)))
        for option in sub._actions:
            spellings = set(option.option_strings)
            if spellings and "--help" not in spellings:
                assert spellings & shown, f"dumps {action}: {sorted(spellings)} not in the README"
