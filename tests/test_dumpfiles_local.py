"""A dump directory read through catalogue names, which a shared catalogue may not vouch for."""

from __future__ import annotations

from pathlib import Path

import pytest

from debugnet.catalogue import DumpRecord, DumpState, open_catalogue
from debugnet.catalogue.dumpfiles import LocalFiles
from debugnet.cli import main
from debugnet.errors import NoEntry


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path, DumpRecord]:
    """A dump directory, a file outside it, and a record whose names lead out."""
    dumpdir = tmp_path / "crash"
    dumpdir.mkdir()
    secret = tmp_path / "vmcore.h.0"
    secret.write_bytes(b"not a dump of ours")
    record = DumpRecord(
        host="h",
        index=0,
        started=1.0,
        state=DumpState.COMPLETE,
        files=["../vmcore.h.0", "../info.h.0"],
    )
    return dumpdir, secret, record


def test_names_leading_out_of_the_directory_name_no_file(
    planted: tuple[Path, Path, DumpRecord],
) -> None:
    dumpdir, secret, record = planted
    files = LocalFiles(dumpdir)
    for name in ("../vmcore.h.0", str(secret), "a/../../vmcore.h.0"):
        assert files.size(name) is None
        with pytest.raises(NoEntry):
            files.open(name)
        with pytest.raises(NoEntry):
            files.local_path(name)
    with pytest.raises(NoEntry):
        files.delete(record)
    assert secret.read_bytes() == b"not a dump of ours"
    assert files.size("vmcore.h.0") is None  # an ordinary name still works (absent here)


def test_dumps_rm_of_such_a_record_is_one_line_and_deletes_nothing(
    planted: tuple[Path, Path, DumpRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    dumpdir, secret, record = planted
    cat = open_catalogue(dumpdir)
    cat.put(record)
    dump_id = record.id
    cat.close()
    code = main(["dumps", "--dir", str(dumpdir), "rm", dump_id])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "not a name inside the dump directory" in err
    assert secret.exists()
