"""`debugnet send --raw` and `debugnet netdump` with the Linux kernel as the peer (root).

The client runs in a namespace whose interface may have no address at all
(the rescue case); `debugnet serve` receives in another namespace; with a
router namespace between them the kernel forwards. Dumps must arrive
byte-exact with complete info files.
"""

from __future__ import annotations

import gzip
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rawns import CLIENT_IP, DEBUGNET, NEAR_IP, NsServe, RawNs, raw_namespaces, start_serve_in
from tests.test_devices_support import ip

pytestmark = pytest.mark.root

SIZE = 2_000_000
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SUB_STDIN = ["-p", "sub", "--panic", "stdin", "-"]


def raw_args(ns: RawNs) -> list[str]:
    return ["send", "--raw", "-s", ns.server_ip, "-i", ns.client_if, "-c", CLIENT_IP]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = b"\x00" * 100_000 + random.Random(11).randbytes(SIZE - 100_000)
    path = tmp_path_factory.mktemp("img") / "memory.img"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[tuple[RawNs, NsServe]]:
    with raw_namespaces() as ns:
        serve = start_serve_in(ns.server_ns, tmp_path / "crash")
        try:
            yield ns, serve
        finally:
            serve.stop()


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[tuple[RawNs, NsServe]]:
    with raw_namespaces(routed=True) as ns:
        serve = start_serve_in(ns.server_ns, tmp_path / "crash")
        try:
            yield ns, serve
        finally:
            serve.stop()


def check_dump(serve: NsServe, data: bytes, panic: str = "debugnet send") -> str:
    core, info = serve.last()
    assert core.read_bytes() == data
    text = info.read_text()
    assert "Dump complete" in text and f"Panic String: {panic}" in text
    assert f"Dump Length: {len(data)}B" in text
    return text


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1
    return res.stdout


def test_rescue_case_no_host_address(
    direct: tuple[RawNs, NsServe], image: tuple[Path, bytes]
) -> None:
    ns, serve = direct
    path, data = image
    assert ip("-n", ns.client_ns, "-4", "addr", "show", ns.client_if).stdout.count("inet ") == 0
    out = ok(
        ns.client(
            "send", "--raw", "-s", ns.server_ip, "-i", ns.client_if, "-c", CLIENT_IP, str(path)
        )
    )
    assert f"raw on {ns.client_if} from {CLIENT_IP}," in out and "window mode" in out
    check_dump(serve, data)


def test_inferred_from_the_hosts_address_and_route(
    direct: tuple[RawNs, NsServe], image: tuple[Path, bytes]
) -> None:
    ns, serve = direct
    path, data = image
    ns.give_client_address()
    out = ok(ns.client("send", "--raw", "-s", ns.server_ip, str(path)))
    assert f"raw on {ns.client_if} from {CLIENT_IP}," in out and " via " not in out
    check_dump(serve, data)


def test_through_a_router_with_g(routed: tuple[RawNs, NsServe], image: tuple[Path, bytes]) -> None:
    ns, serve = routed
    path, data = image
    args = ["-s", ns.server_ip, "-i", ns.client_if, "-c", CLIENT_IP, "-g", NEAR_IP]
    out = ok(ns.client("send", "--raw", *args, str(path)))
    assert f"via {NEAR_IP}" in out
    check_dump(serve, data)


def test_gateway_from_the_default_route(
    routed: tuple[RawNs, NsServe], image: tuple[Path, bytes]
) -> None:
    ns, serve = routed
    path, data = image
    ns.give_client_address(default_via=NEAR_IP)
    out = ok(ns.client("netdump", "-s", ns.server_ip, "--panic", "ddb line", str(path)))
    assert f"raw on {ns.client_if} from {CLIENT_IP} via {NEAR_IP}" in out
    check_dump(serve, data, "ddb line")


def test_one_percent_loss_toward_the_server(
    direct: tuple[RawNs, NsServe], image: tuple[Path, bytes]
) -> None:
    ns, serve = direct
    path, data = image
    ns.nft(
        ns.server_ns,
        "table inet lossy {\n chain input {\n type filter hook input priority 0;\n"
        " meta l4proto udp numgen random mod 100 < 1 drop\n }\n}\n",
    )
    out = ok(
        ns.client(
            "send", "--raw", "-s", ns.server_ip, "-i", ns.client_if, "-c", CLIENT_IP, str(path)
        )
    )
    retrans = int(out.split(" retransmissions")[0].rsplit(" ", 1)[1])
    assert retrans > 0
    check_dump(serve, data)


def test_seed_mode_gzip_stdin_and_path(
    direct: tuple[RawNs, NsServe], image: tuple[Path, bytes]
) -> None:
    ns, serve = direct
    _, data = image
    part = data[:600_000]
    (serve.dumpdir / "sub").mkdir()
    res = subprocess.run(
        [*ns.exec_client(*raw_args(ns), "--mode", "seed", "--compress", "gzip", *SUB_STDIN)],
        input=part,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert b"seed mode" in res.stdout
    core = (serve.dumpdir / "sub" / f"vmcore.{CLIENT_IP}.last").resolve()
    assert core.name.endswith(".gz") and gzip.decompress(core.read_bytes()) == part


def one_line_error(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1, res.stderr
    for word in words:
        assert word in res.stderr, res.stderr


def test_user_errors_are_one_line(direct: tuple[RawNs, NsServe], image: tuple[Path, bytes]) -> None:
    ns, _ = direct
    path = str(image[0])
    s = ["-s", ns.server_ip]
    one_line_error(ns.client("send", "--raw", *s, str(path)), "could not get a route", "-i", "-c")
    one_line_error(
        ns.client("send", "--raw", *s, "-i", "nosuch0", "-c", CLIENT_IP, path),
        "could not locate interface nosuch0",
    )
    one_line_error(
        ns.client("send", "--raw", *s, "-i", "lo", "-c", CLIENT_IP, path),
        "does not support debugnet",
    )
    one_line_error(ns.client("netdump", "-s", "198.51.100.300", path), "out of range")
    one_line_error(ns.client("send", *s, "-i", ns.client_if, path), "--raw")
    ip("-n", ns.client_ns, "link", "set", ns.client_if, "down")
    one_line_error(
        ns.client("send", "--raw", *s, "-i", ns.client_if, "-c", CLIENT_IP, path), "link is down"
    )


def test_without_cap_net_raw_a_one_line_error(
    direct: tuple[RawNs, NsServe], image: tuple[Path, bytes]
) -> None:
    ns, _ = direct
    res = subprocess.run(
        ["ip", "netns", "exec", ns.client_ns, *NOBODY, *DEBUGNET, *raw_args(ns), "-"],
        input=b"x" * 1000,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1 and res.stdout == b""
    err = res.stderr.decode()
    assert err.count("\n") == 1 and "CAP_NET_RAW" in err, err


def test_ifconfig_still_works(direct: tuple[RawNs, NsServe]) -> None:
    ns, _ = direct
    res = ns.client("ifconfig", ns.client_if)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{ns.client_if}: flags=") and "ether " in res.stdout
