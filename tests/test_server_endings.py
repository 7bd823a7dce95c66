"""The server's table of endings and triage's reading of info files agree on every row."""

from __future__ import annotations

import pytest

from debugnet.server.endings import Ending
from debugnet.triage.info import DumpState, parse_info

DETAIL = {
    Ending.HOLES: "2 holes, 4096 bytes missing [00001000-00001fff]",
    Ending.LIMIT: "dump exceeds --max-dump-size 1048576",
    Ending.WRITE_ERROR: "write error @ offset 00020000: No space left on device",
    Ending.BAD_KDH: "packet too small",
}


@pytest.mark.parametrize("ending", list(Ending), ids=lambda e: e.name)
def test_the_state_an_ending_writes_is_the_state_triage_reads(ending: Ending) -> None:
    text = b"Dump from host [192.0.2.7]\n" + ending.line(DETAIL.get(ending, ""))
    outcome = parse_info(text).outcome
    assert outcome.state is ending.state
    assert outcome.state is not DumpState.RECEIVING
    if ending is not Ending.COMPLETE:
        assert outcome.reason  # every ending but success says why
