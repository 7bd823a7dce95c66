import errno
import os

import pytest

from debugnet.errors import NetworkDown, NoBuffers, NoDevice
from debugnet.ifnet import IfFlags, Ifnet, IfOps, IfQueue, IfTable, TapDirection
from debugnet.ifnet.rxinfo import NO_RXINFO, RxFlags, RxInfo
from tests.test_ifnet_support import make_ether, up

FRAME = bytes.fromhex("020000000002020000000001" + "0800") + bytes(46)


def test_queue_is_bounded_and_counts_drops() -> None:
    q = IfQueue(2)
    assert q.enqueue(b"a") and q.enqueue(b"b") and q.full
    assert not q.enqueue(b"c")
    assert q.drops == 1 and len(q) == 2
    assert q.dequeue() == b"a"
    assert q.purge() == 1 and q.drops == 1
    q.enqueue(b"x")
    assert q.purge(count_drops=True) == 1 and q.drops == 2
    assert q.dequeue() is None
    with pytest.raises(ValueError):
        IfQueue(-1)


def test_transmit_starts_the_driver_and_counts() -> None:
    table = IfTable()
    ifp, drv = make_ether()
    table.attach(ifp)
    up(ifp)
    ifp.transmit(FRAME)
    assert drv.sent == [FRAME]
    assert (ifp.stats.opackets, ifp.stats.obytes, ifp.stats.omcasts) == (1, len(FRAME), 0)


def test_full_send_queue_drops_and_counts() -> None:
    table = IfTable()
    ifp, drv = make_ether(snd_maxlen=2)
    table.attach(ifp)
    up(ifp)
    ifp.flags |= IfFlags.OACTIVE  # the driver is busy: frames wait
    ifp.transmit(FRAME)
    ifp.transmit(FRAME)
    with pytest.raises(NoBuffers):
        ifp.transmit(FRAME)
    assert ifp.stats.oqdrops == 1 and ifp.snd.drops == 1 and drv.sent == []
    ifp.flags &= ~IfFlags.OACTIVE
    ifp.ops.start(ifp)
    assert len(drv.sent) == 2


def test_oversized_frame_is_refused() -> None:
    table = IfTable()
    ifp, _ = make_ether()
    table.attach(ifp)
    up(ifp)
    ifp.transmit(bytes(1514))
    with pytest.raises(NoBuffers):
        ifp.transmit(bytes(1515))


def test_output_errors_are_counted_not_raised() -> None:
    def broken(ifp: object, frame: bytes) -> None:
        raise OSError(105, "No buffer space available")

    table = IfTable()
    ifp, _ = make_ether()
    ifp.ops = IfOps(output=broken)
    table.attach(ifp)
    up(ifp)
    ifp.transmit(FRAME)
    assert ifp.stats.oerrors == 1 and ifp.stats.opackets == 0


def test_input_queues_for_the_stack_with_drops() -> None:
    table = IfTable()
    ifp, _ = make_ether(rcv_maxlen=1)
    table.attach(ifp)
    assert ifp.input(b"\xff" * 60)
    assert not ifp.input(FRAME)
    assert ifp.stats.ipackets == 2 and ifp.stats.imcasts == 1 and ifp.stats.iqdrops == 1
    assert ifp.dequeue_input() == b"\xff" * 60
    assert ifp.dequeue_input() is None


def test_input_hook_diverts_frames() -> None:
    table = IfTable()
    ifp, _ = make_ether()
    table.attach(ifp)
    got: list[bytes] = []
    infos: list[RxInfo] = []

    def hook(_ifp: Ifnet, frame: bytes, rx: RxInfo) -> None:
        got.append(frame)
        infos.append(rx)

    ifp.input_hook = hook
    ifp.input(FRAME)
    flagged = RxInfo(RxFlags.CSUM_NOT_READY | RxFlags.VLAN, 42)
    ifp.input(FRAME, flagged)
    assert got == [FRAME, FRAME] and len(ifp.rcv) == 0
    assert infos == [NO_RXINFO, flagged]


def test_taps_see_every_frame_in_and_out() -> None:
    table = IfTable()
    ifp, _ = make_ether()
    table.attach(ifp)
    up(ifp)
    seen: list[tuple[TapDirection, bytes]] = []
    ifp.taps.append(lambda d, f: seen.append((d, f)))
    ifp.transmit(FRAME)
    ifp.input(FRAME[::-1])
    assert seen == [(TapDirection.OUT, FRAME), (TapDirection.IN, FRAME[::-1])]


def test_detached_interface_drops_input_and_refuses_output() -> None:
    table = IfTable()
    ifp, drv = make_ether()
    table.attach(ifp)
    up(ifp)
    table.detach(ifp)
    assert ifp.input(FRAME) is False and ifp.stats.ipackets == 0
    with pytest.raises(NoDevice):
        ifp.transmit(FRAME)
    assert drv.sent == []


@pytest.mark.parametrize("code", [errno.EAGAIN, errno.ENOBUFS])
def test_a_full_socket_buffer_is_a_full_queue(code: int) -> None:
    # "A full queue drops and counts": the socket buffer is the direct path's queue.
    table = IfTable()
    ifp, _ = make_ether()
    table.attach(ifp)
    up(ifp)

    def full(frame: bytes) -> None:
        raise OSError(code, os.strerror(code))

    ifp.tx_direct = full
    with pytest.raises(NoBuffers) as info:
        ifp.transmit(FRAME)
    assert info.value.errno == errno.ENOBUFS
    assert (ifp.stats.oqdrops, ifp.stats.oerrors, ifp.stats.opackets) == (1, 0, 0)


def test_direct_transmit_bypasses_the_queue_taps_and_counts() -> None:
    table = IfTable()
    ifp, drv = make_ether()
    table.attach(ifp)
    up(ifp)
    wire: list[bytes] = []
    seen: list[bytes] = []
    ifp.tx_direct = wire.append
    ifp.taps.append(lambda d, f: seen.append(f))
    ifp.transmit(b"\xff" + FRAME[1:])
    assert wire == seen == [b"\xff" + FRAME[1:]] and drv.sent == []
    assert (ifp.stats.opackets, ifp.stats.omcasts) == (1, 1)

    def unreachable(frame: bytes) -> None:
        raise OSError(errno.ENETDOWN, "Network is down")

    ifp.tx_direct = unreachable
    with pytest.raises(NetworkDown):
        ifp.transmit(FRAME)
    assert (ifp.stats.oerrors, ifp.stats.oqdrops) == (1, 0)
    table.detach(ifp)
    assert ifp.tx_direct is None
    ifp.flags |= IfFlags.UP | IfFlags.RUNNING  # even if someone forces the flags back
    with pytest.raises(NoDevice):
        ifp.transmit(FRAME)
