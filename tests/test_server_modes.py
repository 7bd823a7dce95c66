"""Every file a dump leaves is mode 0600 (the key record 0400), as the README says."""

from __future__ import annotations

from tests.dumpclient import DumpClient
from tests.netutil import free_loopback
from tests.serverutil import file_mode, kdh, wait_for


def test_every_dump_file_is_private(run_server) -> None:  # type: ignore[no-untyped-def]
    srv = run_server()
    ip = free_loopback((20024,))
    with DumpClient(ip, srv.ip) as c:
        c.herald()
        c.dump(b"m" * 3000, kdh(3000))
    wait_for(lambda: (srv.dumpdir / f"info.{ip}.0").read_text().endswith("Dump complete\n"))
    modes = {p.name: file_mode(p) for p in srv.dumpdir.iterdir() if not p.is_symlink()}
    catalogue = {n: 0o600 for n in modes if n.startswith("catalogue.sqlite")}
    assert "catalogue.sqlite" in catalogue  # and its -wal and -shm files, if present
    assert modes == {
        f"vmcore.{ip}.0": 0o600,
        f"info.{ip}.0": 0o600,
        f"bounds.{ip}": 0o600,
        **catalogue,
    }
