"""Raw Ethernet frames on a real Linux interface through an AF_PACKET socket.

Polled and non-blocking: the caller (or debugnet) asks for up to N frames.
Frames the host itself sends, ours included, are not looped back into our
input: the socket ignores outgoing packets where the kernel supports it, and
each frame's packet type is checked anyway.
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache

from debugnet.errors import NoDevice, PermissionDenied, error_for_errno
from debugnet.ifnet import (
    IfFlags,
    Ifnet,
    IfOps,
    IfStats,
    IfTable,
    IoctlCmd,
)
from debugnet.ifnet.ops import accept_ioctl
from debugnet.ifnet.rxinfo import NO_RXINFO, RxFlags, RxInfo

from . import framebatch
from .framebatch import FrameReceiver, FrameSender
from .hostimport import read_host_interface, to_ifnet
from .ring import cluster_size, polled_debugnet

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_CSUM_VALID = 1 << 7
AUXDATA = struct.Struct("=IIIHHHH")
"""struct tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci, vlan_tpid."""
_CMSG_SPACE = socket.CMSG_SPACE(AUXDATA.size)
RCVBUF = 4 << 20
SNDBUF = 4 << 20
HOST_ONLY_FLAGS = IfFlags.PROMISC | IfFlags.ALLMULTI | IfFlags.OACTIVE | IfFlags.RUNNING


@dataclass(eq=False)
class PacketSoftc:
    host_name: str
    host_index: int
    sock: socket.socket | None = None
    promisc: bool = False
    diverted: bool = False
    rx_fcs: bool = False
    """The NIC leaves the FCS on received frames (ethtool rx-fcs): flag them so."""
    sender: FrameSender | None = None
    receiver: FrameReceiver | None = None
    """Batched I/O on ``sock`` (sendmmsg, recvmmsg) where the platform has it."""

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1


def _open(sc: PacketSoftc) -> socket.socket:
    """A bound, non-blocking socket; closed again if any step of that fails."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            log.debug("PACKET_IGNORE_OUTGOING unsupported; filtering by packet type")
        # Per-frame checksum status and stripped VLAN tag (tp_status, tp_vlan_tci).
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        sock.bind((sc.host_name, ETH_P_ALL))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _set_promisc(sc: PacketSoftc, on: bool) -> None:
    """Add or drop the socket's promiscuous membership.

    ``sc.promisc`` records the membership of the open socket only: with no
    socket there is nothing to change, and ``_init`` consults IFF_PROMISC
    when the interface comes up (as ifpromisc expects of a driver).
    """
    if sc.sock is None or sc.promisc == on:
        return
    mreq = struct.pack("iHH8s", sc.host_index, PACKET_MR_PROMISC, 0, b"")
    opt = PACKET_ADD_MEMBERSHIP if on else PACKET_DROP_MEMBERSHIP
    sc.sock.setsockopt(SOL_PACKET, opt, mreq)
    sc.promisc = on


def _sock(ifp: Ifnet) -> socket.socket:
    sock: socket.socket | None = ifp.softc.sock
    if sock is None:
        raise NoDevice(f"{ifp.name}: packet socket closed")
    return sock


def _output(ifp: Ifnet, frame: bytes) -> None:
    _sock(ifp).send(frame)


def _output_many(ifp: Ifnet, frames: list[bytes]) -> int:
    """Send ``frames`` with as few system calls as the socket allows; how many went out."""
    sc: PacketSoftc = ifp.softc
    sender = sc.sender
    if sender is None or any(len(f) > sender.slot_size for f in frames):
        sock = _sock(ifp)
        for sent, frame in enumerate(frames):
            try:
                sock.send(frame)
            except OSError as exc:
                if exc.errno in framebatch.QUEUE_FULL:
                    return sent
                raise
        return len(frames)
    return sender.send(frames)


_CSUM_VALID = int(RxFlags.CSUM_VALID)
_CSUM_NOT_READY = int(RxFlags.CSUM_NOT_READY)
_VLAN = int(RxFlags.VLAN)
_FCS = int(RxFlags.FCS)


def rx_info(ancdata: list[tuple[int, int, bytes]], rx_fcs: bool = False) -> RxInfo:
    """The driver flags of one frame from its PACKET_AUXDATA control message."""
    for level, kind, data in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            return aux_info(data, rx_fcs)
    return aux_info(None, rx_fcs)


def aux_info(auxdata: bytes | None, rx_fcs: bool = False) -> RxInfo:
    """The driver flags of one frame from its struct tpacket_auxdata, if any."""
    if auxdata is None or len(auxdata) < AUXDATA.size:
        return status_info(-1, 0, rx_fcs)
    status, _len, _snap, _mac, _net, tci, _tpid = AUXDATA.unpack_from(auxdata)
    return status_info(status, tci, rx_fcs)


@lru_cache(maxsize=256)
def status_info(status: int, tci: int, rx_fcs: bool = False) -> RxInfo:
    """The driver flags of a frame whose auxdata said ``status`` and ``tci`` (status -1: none).

    Cached: a flow's frames all carry the same few.
    """
    flags = _FCS if rx_fcs else 0
    if status < 0:
        tci = 0
    else:
        if status & TP_STATUS_CSUM_VALID:
            flags |= _CSUM_VALID
        if status & TP_STATUS_CSUMNOTREADY:
            flags |= _CSUM_NOT_READY
        if status & TP_STATUS_VLAN_VALID or tci:
            flags |= _VLAN
        else:
            tci = 0
    if not flags:
        return NO_RXINFO
    return RxInfo(flags, tci)


def _poll(ifp: Ifnet, count: int) -> int:
    """Read up to ``count`` frames the wire brought, into ``ifp.input`` with their flags."""
    sc: PacketSoftc = ifp.softc
    sock = sc.sock
    if sock is None:
        return 0
    if sc.receiver is not None:
        return _poll_batched(ifp, sc.receiver, count)
    recvmsg = sock.recvmsg
    n = 0
    while n < count:
        try:
            frame, ancdata, _flags, addr = recvmsg(65536, _CMSG_SPACE)
        except BlockingIOError:
            break
        if addr[2] == PACKET_OUTGOING:
            continue
        ifp.input(frame, rx_info(ancdata, sc.rx_fcs) if ancdata or sc.rx_fcs else NO_RXINFO)
        n += 1
    return n


def _poll_batched(ifp: Ifnet, receiver: FrameReceiver, count: int) -> int:
    """``_poll`` with one recvmmsg per batch of frames."""
    rx_fcs = ifp.softc.rx_fcs
    n = 0
    while n < count:
        got = receiver.receive(count - n)
        for frame, pkttype, status, tci in got:
            if pkttype == PACKET_OUTGOING:
                continue
            ifp.input(frame, status_info(status, tci, rx_fcs))
            n += 1
        if len(got) < receiver.slots:
            break
    return n


def _attach_batches(sc: PacketSoftc, sock: socket.socket, mtu: int) -> None:
    """Batched I/O on a fresh socket, where the platform has sendmmsg and recvmmsg."""
    if not framebatch.available():
        return
    fd = sock.fileno()
    sc.sender = FrameSender(fd, slot_size=cluster_size(mtu))
    sc.receiver = FrameReceiver(fd, SOL_PACKET, PACKET_AUXDATA)


def _detach_batches(sc: PacketSoftc) -> None:
    for batch in (sc.sender, sc.receiver):
        if batch is not None:
            batch.close()
    sc.sender = sc.receiver = None


def _init(ifp: Ifnet) -> None:
    sc: PacketSoftc = ifp.softc
    if sc.sock is None:
        sc.sock = _open(sc)
        sc.promisc = False
        _attach_batches(sc, sc.sock, ifp.mtu)
    # The socket queues in the kernel: frames go straight to it (if_transmit).
    ifp.tx_direct = sc.sock.send
    _set_promisc(sc, bool(ifp.flags & IfFlags.PROMISC))


def _stop(ifp: Ifnet, disable: bool) -> None:
    sc: PacketSoftc = ifp.softc
    if disable and sc.sock is not None:
        _detach_batches(sc)
        sc.sock.close()
        sc.sock = None
        sc.promisc = False  # the membership went with the socket
        ifp.tx_direct = None


def _ioctl(ifp: Ifnet, cmd: int, arg: object) -> None:
    if cmd == IoctlCmd.SIOCSIFFLAGS and isinstance(arg, int):
        _set_promisc(ifp.softc, bool(arg & IfFlags.PROMISC))
    accept_ioctl(ifp, cmd, arg)


PACKET_OPS = IfOps(
    output=_output,
    ioctl=_ioctl,
    init=_init,
    stop=_stop,
    debugnet=polled_debugnet(_output, _poll, RCVBUF // 2048, _output_many),
)


def attach_packet(table: IfTable, host_name: str, *, name: str | None = None) -> Ifnet:
    """An interface sending and receiving raw frames on host interface ``host_name``.

    MAC, MTU, flags and link state come from the host; the link state is
    queued (drain the table to deliver it). Needs CAP_NET_RAW.
    """
    host = read_host_interface(host_name)
    ifp = to_ifnet(host, PACKET_OPS, name=name)
    # The host's promiscuity, all-multicast and running state are the host's
    # (someone's tcpdump, say), not requests of ours: pcount starts at 0, so
    # must the flag, and RUNNING means our socket is open.
    ifp.flags &= ~HOST_ONLY_FLAGS
    ifp.max_mtu = host.mtu
    ifp.softc = PacketSoftc(host_name, host.index)
    ifp.stats = IfStats()  # our own counters, not the host's
    table.attach(ifp)
    if ifp.flags & IfFlags.UP:
        try:
            _init(ifp)
        except OSError as exc:
            table.detach(ifp)
            if isinstance(exc, PermissionError):
                raise PermissionDenied(f"{host_name}: packet socket: {exc.strerror}") from exc
            raise error_for_errno(exc.errno or 0, f"{host_name}: {exc.strerror}") from exc
        ifp.flags |= IfFlags.RUNNING
    ifp.link_state_change(host.link_state)
    return ifp


def poll(ifp: Ifnet, count: int = 64) -> int:
    """Receive up to ``count`` frames (the non-debugnet path: same socket, same filter)."""
    return _poll(ifp, count)


def refresh_link_state(ifp: Ifnet) -> bool:
    """Re-read the host's link state and queue it; False if unchanged since last queued."""
    host = read_host_interface(ifp.softc.host_name, ifp.softc.host_index, addrs={})
    return ifp.link_state_change(host.link_state)


def close(ifp: Ifnet) -> None:
    _stop(ifp, True)
