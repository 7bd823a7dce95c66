"""The C ABI of Linux sendmmsg/recvmmsg for ctypes: struct iovec, msghdr, mmsghdr and libc.

Two batching paths share it: the raw path's packet socket (devices.framebatch)
and the server's UDP sessions (server.mmsg). The layouts are the kernel's and
glibc's, so they stand once here, below both; each user keeps its own buffers.
"""

from __future__ import annotations

import ctypes
import os
import sys


class IoVec(ctypes.Structure):
    """struct iovec."""

    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class MsgHdr(ctypes.Structure):
    """struct msghdr; msg_iov is a bare address (the caller keeps the vectors alive)."""

    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class MMsgHdr(ctypes.Structure):
    """struct mmsghdr."""

    _fields_ = (("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint))


def _load_libc() -> ctypes.CDLL:
    """glibc by its soname; the library search (which runs ldconfig: 30 ms) only if that fails."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def mmsg_libc() -> ctypes.CDLL | None:
    """A libc whose sendmmsg and recvmmsg take (fd, address of mmsghdr[], n, flags[, timeout]);
    None where they are missing (not Linux, no libc). Each call loads its own handle, so
    one user's argtypes never change another's."""
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


def errno_error() -> OSError:
    """The OSError for the errno the last libc call (through a use_errno handle) left."""
    err = ctypes.get_errno()
    return OSError(err, os.strerror(err))
