"""Many frames per system call on a packet socket: sendmmsg and recvmmsg through ctypes.

A windowed transfer puts hundreds of frames on the wire between two looks
at the acks, and takes as many acks back in. One ``send`` or ``recvmsg``
per frame costs a system call each, plus, for ``recvmsg``, a list of
control-message tuples per frame; on the raw path that was a quarter of the
client's time. Here a batch is one call: frames are copied into fixed slots
whose I/O vectors never move, and received frames, their PACKET_AUXDATA and
their packet type are read back out of fixed buffers by offset.

The frames are untouched: what goes out is exactly the bytes handed in,
one frame per message (no GSO, no checksum offload). Where the calls are
missing (not Linux, no libc), ``available()`` is False and the driver uses
one call per frame.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
import sys
from typing import Final

MSG_DONTWAIT: Final = 0x40
QUEUE_FULL: Final = frozenset({errno.EAGAIN, errno.ENOBUFS})
_CMSG_HEADER: Final = struct.Struct("NiI")
"""struct cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type."""
_ALIGN: Final = ctypes.sizeof(ctypes.c_size_t)
_SLL_PKTTYPE: Final = 10
"""Offset of sll_pkttype in struct sockaddr_ll."""
_SLL_SIZE: Final = 20
_AUX: Final = struct.Struct("NiIIIIHHHH")
"""A cmsghdr and the struct tpacket_auxdata after it: status, len, snaplen, mac, net,
vlan_tci, vlan_tpid."""
_CONTROL_SIZE: Final = (_AUX.size + 7) & -8


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


_MMSG_SIZE: Final = ctypes.sizeof(_MMsgHdr)
_IOV_SIZE: Final = ctypes.sizeof(_IoVec)
_IOV_LEN_AT: Final = _IoVec.iov_len.offset
_NAMELEN_AT: Final = _MsgHdr.msg_namelen.offset
_CONTROLLEN_AT: Final = _MsgHdr.msg_controllen.offset
_MSG_LEN_AT: Final = _MMsgHdr.msg_len.offset
_SIZE_T: Final = struct.Struct("N")
_U32: Final = struct.Struct("I")


def _load_libc() -> ctypes.CDLL:
    """glibc by its soname; the library search (which runs ldconfig: 30 ms) only if that fails."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = _load_libc()
        libc.sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
        libc.recvmmsg.argtypes = (
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_void_p,
        )
    except (OSError, AttributeError):
        return None
    return libc


_LIBC: Final = _libc()


def available() -> bool:
    return _LIBC is not None


def _oserror() -> OSError:
    err = ctypes.get_errno()
    return OSError(err, os.strerror(err))


class _Slots:
    """``count`` buffers of ``size`` bytes with one message and one I/O vector each.

    The vectors point at the slots for good; only their lengths change. The
    memory is an anonymous mapping, resident only where frames were written.
    """

    def __init__(self, count: int, size: int, name_size: int = 0, control_size: int = 0) -> None:
        self.count = count
        self.size = size
        per = size + name_size + control_size
        self.mem = mmap.mmap(-1, count * per)
        self._anchor = ctypes.c_char.from_buffer(self.mem)
        base = ctypes.addressof(self._anchor)
        self.iovs = (_IoVec * count)()
        self.msgs = (_MMsgHdr * count)()
        self.name_at = count * size
        self.control_at = self.name_at + count * name_size
        for i in range(count):
            self.iovs[i].iov_base = base + i * size
            self.iovs[i].iov_len = size
            hdr = self.msgs[i].hdr
            hdr.msg_iov = ctypes.addressof(self.iovs[i])
            hdr.msg_iovlen = 1
            if name_size:
                hdr.msg_name = base + self.name_at + i * name_size
                hdr.msg_namelen = name_size
            if control_size:
                hdr.msg_control = base + self.control_at + i * control_size
                hdr.msg_controllen = control_size
        self.view = memoryview(self.mem)
        self.iov_bytes = memoryview(self.iovs).cast("B")
        self.msg_bytes = memoryview(self.msgs).cast("B")
        self.msgs_address = ctypes.addressof(self.msgs)

    def close(self) -> None:
        self.iov_bytes.release()
        self.msg_bytes.release()
        self.view.release()
        del self._anchor
        self.mem.close()


class FrameSender:
    """Sends lists of whole frames, up to ``slots`` per sendmmsg call, on a bound socket."""

    def __init__(self, fd: int, slots: int = 64, slot_size: int = 2048) -> None:
        assert _LIBC is not None
        self._fd = fd
        self._slots = _Slots(slots, slot_size)
        self._lengths = [slot_size] * slots
        self._sendmmsg = _LIBC.sendmmsg

    @property
    def slot_size(self) -> int:
        return self._slots.size

    def send(self, frames: list[bytes]) -> int:
        """Send ``frames`` in order; return how many went out.

        A full socket buffer (EAGAIN, ENOBUFS) ends the batch: the frames not
        sent are lost, as with ``send``, and the transport resends them. Any
        other error is raised as OSError. Every frame must fit a slot.
        """
        slots = self._slots
        size, count, view, lengths = slots.size, slots.count, slots.view, self._lengths
        iov_bytes, pack_len = slots.iov_bytes, _SIZE_T.pack_into
        sent = 0
        total = len(frames)
        while sent < total:
            batch = min(count, total - sent)
            for i in range(batch):
                frame = frames[sent + i]
                n = len(frame)
                at = i * size
                view[at : at + n] = frame
                if lengths[i] != n:
                    lengths[i] = n
                    pack_len(iov_bytes, i * _IOV_SIZE + _IOV_LEN_AT, n)
            done = self._sendmmsg(self._fd, slots.msgs_address, batch, 0)
            if done < 0:
                exc = _oserror()
                if exc.errno in QUEUE_FULL:
                    return sent
                raise exc
            sent += done
        return sent

    def close(self) -> None:
        self._slots.close()


class FrameReceiver:
    """Takes up to ``slots`` frames per recvmmsg call, with their packet type and auxdata.

    Built for a packet socket with PACKET_AUXDATA on: each frame's control
    message is read in place, at a fixed offset when it is the only one.
    """

    def __init__(
        self,
        fd: int,
        level: int,
        kind: int,
        slots: int = 64,
        slot_size: int = 65536,
    ) -> None:
        assert _LIBC is not None
        self._fd = fd
        self._level = level
        self._kind = kind
        self._control_size = _CONTROL_SIZE
        self._slots = _Slots(slots, slot_size, _SLL_SIZE, _CONTROL_SIZE)
        self.slots = slots
        self._recvmmsg = _LIBC.recvmmsg

    def receive(self, limit: int) -> list[tuple[bytes, int, int, int]]:
        """Up to ``limit`` waiting frames; never blocks. Raises OSError but for an empty queue.

        Each is (frame, sll_pkttype, tp_status, tp_vlan_tci), the status -1
        when the kernel attached no PACKET_AUXDATA.
        """
        slots = self._slots
        batch = min(limit, slots.count)
        if batch <= 0:
            return []
        got = self._recvmmsg(self._fd, slots.msgs_address, batch, MSG_DONTWAIT, None)
        if got < 0:
            exc = _oserror()
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return []
            raise exc
        view, msg_bytes, size = slots.view, slots.msg_bytes, slots.size
        name_at, control_at, control_size = slots.name_at, slots.control_at, self._control_size
        level, kind = self._level, self._kind
        unpack_len, unpack_clen, unpack_aux = (
            _U32.unpack_from,
            _SIZE_T.unpack_from,
            _AUX.unpack_from,
        )
        out = []
        for i in range(got):
            m = i * _MMSG_SIZE
            n = unpack_len(msg_bytes, m + _MSG_LEN_AT)[0]
            clen = unpack_clen(msg_bytes, m + _CONTROLLEN_AT)[0]
            c = control_at + i * control_size
            status = tci = -1
            if clen >= _AUX.size:
                length, lvl, knd, status, _l, _s, _m, _n, tci, _p = unpack_aux(view, c)
                if lvl != level or knd != kind or length != _AUX.size:
                    status, tci = self._walk(view, c, c + clen)
            if status < 0:
                tci = 0
            out.append(
                (
                    bytes(view[i * size : i * size + n]),
                    view[name_at + i * _SLL_SIZE + _SLL_PKTTYPE],
                    status,
                    tci,
                )
            )
            if clen != control_size:
                # The kernel wrote back the room it used: give the slot its full room again.
                _SIZE_T.pack_into(msg_bytes, m + _CONTROLLEN_AT, control_size)
        return out

    def _walk(self, view: memoryview, at: int, end: int) -> tuple[int, int]:
        """tp_status and tp_vlan_tci from our control message among several, or (-1, 0)."""
        while at + _CMSG_HEADER.size <= end:
            length, level, kind = _CMSG_HEADER.unpack_from(view, at)
            if length < _CMSG_HEADER.size or at + length > end:
                break
            if level == self._level and kind == self._kind and length >= _AUX.size:
                fields = _AUX.unpack_from(view, at)
                return fields[3], fields[8]
            at += (length + _ALIGN - 1) & -_ALIGN
        return -1, 0

    def close(self) -> None:
        self._slots.close()
