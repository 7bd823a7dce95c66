"""The interface layer, modelled on NetBSD's if.c: no I/O, time is a parameter."""

from debugnet.ifnet.addr import AddrFamily, IfAddr, LinkAddress
from debugnet.ifnet.clone import IfCloner, split_name
from debugnet.ifnet.debugnet import (
    BufferPool,
    DebugnetEvent,
    DebugnetMethods,
    DebugnetPool,
    PoolBuffer,
    PoolSize,
    debugnet_event,
    debugnet_poll,
    debugnet_transmit,
    supports_debugnet,
)
from debugnet.ifnet.defs import CANTCHANGE, IfCap, IfFlags, IfStats, IfType, flag_names
from debugnet.ifnet.interface import Ifnet
from debugnet.ifnet.ioctl import (
    add_multi,
    del_multi,
    if_down,
    if_up,
    ifioctl,
    ifioctl_common,
    promisc,
    set_capenable,
    set_flags,
    set_metric,
    set_mtu,
    stats_snapshot,
    zero_stats,
)
from debugnet.ifnet.linkstate import IfEvent, IfNotice, LinkState
from debugnet.ifnet.ops import NULL_OPS, IfOps, IoctlCmd, Tap, TapDirection
from debugnet.ifnet.queue import IfQueue
from debugnet.ifnet.table import IF_INDEX_MAX, IfRef, IfTable

__all__ = [
    "CANTCHANGE",
    "IF_INDEX_MAX",
    "NULL_OPS",
    "AddrFamily",
    "BufferPool",
    "DebugnetEvent",
    "DebugnetMethods",
    "DebugnetPool",
    "IfAddr",
    "IfCap",
    "IfCloner",
    "IfEvent",
    "IfFlags",
    "IfNotice",
    "IfOps",
    "IfQueue",
    "IfRef",
    "IfStats",
    "IfTable",
    "IfType",
    "Ifnet",
    "IoctlCmd",
    "LinkAddress",
    "LinkState",
    "PoolBuffer",
    "PoolSize",
    "Tap",
    "TapDirection",
    "add_multi",
    "debugnet_event",
    "debugnet_poll",
    "debugnet_transmit",
    "del_multi",
    "flag_names",
    "if_down",
    "if_up",
    "ifioctl",
    "ifioctl_common",
    "promisc",
    "set_capenable",
    "set_flags",
    "set_metric",
    "set_mtu",
    "split_name",
    "stats_snapshot",
    "supports_debugnet",
    "zero_stats",
]
