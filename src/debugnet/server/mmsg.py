"""Batched datagram I/O with Linux recvmmsg/sendmmsg, through ctypes.

A windowed client keeps dozens of packets in flight; taking them in one
syscall and answering with one more cuts the server's per-packet cost to the
Python work alone. The receive slots live in an anonymous mmap, so an idle
session's buffers cost address space, not resident memory (``release`` gives
the pages back after a burst). Where the calls
are missing (not Linux), ``available()`` is False and the worker falls back
to one ``recv_into`` and one ``send`` per packet.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys

MSG_WAITFORONE = 0x10000


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.recvmmsg.argtypes = (
            ctypes.c_int,
            ctypes.POINTER(_MMsgHdr),
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_void_p,
        )
        libc.sendmmsg.argtypes = (
            ctypes.c_int,
            ctypes.POINTER(_MMsgHdr),
            ctypes.c_uint,
            ctypes.c_int,
        )
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def available() -> bool:
    return _LIBC is not None


def _vector(
    count: int, base: int, size: int
) -> tuple[ctypes.Array[_IoVec], ctypes.Array[_MMsgHdr]]:
    iovs = (_IoVec * count)()
    msgs = (_MMsgHdr * count)()
    for i in range(count):
        iovs[i].iov_base = base + i * size
        iovs[i].iov_len = size
        msgs[i].msg_hdr.msg_iov = ctypes.pointer(iovs[i])
        msgs[i].msg_hdr.msg_iovlen = 1
    return iovs, msgs


def _raise_errno() -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


class BatchReceiver:
    """Up to ``slots`` datagrams per call on a connected socket."""

    def __init__(self, fd: int, slots: int = 64, slot_size: int = 65536) -> None:
        assert _LIBC is not None
        self._fd = fd
        self._size = slot_size
        # Private, not mmap's default shared mapping: MADV_DONTNEED frees private
        # anonymous pages, while shared ones stay in shmem (``release``).
        private = mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0)
        self._mem = mmap.mmap(-1, slots * slot_size, flags=private)
        self._anchor = ctypes.c_char.from_buffer(self._mem)
        self._iovs, self._msgs = _vector(slots, ctypes.addressof(self._anchor), slot_size)
        self._slots = slots
        self.view = memoryview(self._mem)
        self._recvmmsg = _LIBC.recvmmsg

    def receive(self) -> list[memoryview]:
        """Block until at least one datagram is there, then take what is queued.

        The views are valid until the next call. A receive timeout on the socket
        surfaces as BlockingIOError, like ``recv``.
        """
        n = self._recvmmsg(self._fd, self._msgs, self._slots, MSG_WAITFORONE, None)
        if n < 0:
            _raise_errno()
        view, size, msgs = self.view, self._size, self._msgs
        return [view[i * size : i * size + msgs[i].msg_len] for i in range(n)]

    def release(self) -> None:
        """Give the slots' pages back to the system (MADV_DONTNEED): the session went quiet.

        A burst of large datagrams makes every slot resident (4 MiB for 64
        slots of 64 KiB); an idle session should cost a few hundred KiB, not
        that. The mapping stays: the next datagram faults in zeroed pages.
        """
        advise = getattr(self._mem, "madvise", None)
        dontneed = getattr(mmap, "MADV_DONTNEED", None)
        if advise is not None and dontneed is not None:
            advise(dontneed)

    def close(self) -> None:
        """Unmap now if no view of a datagram is still alive; otherwise when the last one goes."""
        del self._anchor
        try:
            self.view.release()
            self._mem.close()
        except BufferError:
            pass


class BatchSender:
    """Sends many small datagrams (acks) in one call on a connected socket."""

    def __init__(self, fd: int, slots: int = 64, slot_size: int = 4) -> None:
        assert _LIBC is not None
        self._fd = fd
        self._size = slot_size
        self._buf = ctypes.create_string_buffer(slots * slot_size)
        self._iovs, self._msgs = _vector(slots, ctypes.addressof(self._buf), slot_size)
        self._slots = slots
        self._view = memoryview(self._buf).cast("B")
        self._sendmmsg = _LIBC.sendmmsg

    def send(self, datagrams: list[bytes]) -> int:
        """Send every datagram (each exactly ``slot_size`` bytes); return how many went out."""
        sent = 0
        size, view, slots = self._size, self._view, self._slots
        for start in range(0, len(datagrams), slots):
            batch = datagrams[start : start + slots]
            for i, datagram in enumerate(batch):
                view[i * size : i * size + size] = datagram
            n = self._sendmmsg(self._fd, self._msgs, len(batch), 0)
            if n < 0:
                n = self._sendmmsg(self._fd, self._msgs, len(batch), 0)  # a queued ICMP error
                if n < 0:
                    return sent
            sent += n
        return sent
