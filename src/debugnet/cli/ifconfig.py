"""`debugnet ifconfig [-a] [NAME]`: the host's interfaces as the debugnet stack sees them."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from debugnet.ifnet import Ifnet


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="include interfaces that are down")
    parser.add_argument("name", nargs="?", help="show only this interface")
    parser.set_defaults(command="ifconfig")


def run(args: argparse.Namespace) -> int:
    from debugnet.devices.hostimport import import_host
    from debugnet.errors import NoDevice
    from debugnet.ifnet import IfFlags

    table = import_host()
    if args.name is not None:
        # By name first: Linux allows all-digit names, which ifunit reads as indexes.
        ifp = table.byname(args.name) or table.unit(args.name)
        if ifp is None:
            raise NoDevice(f"interface {args.name} does not exist")
        ifps = [ifp]
    else:
        ifps = [i for i in table if args.all or i.flags & IfFlags.UP]
    sys.stdout.write("\n".join(format_ifnet(ifp) for ifp in ifps))
    return 0


def format_ifnet(ifp: Ifnet) -> str:
    """One interface in the familiar ifconfig layout (imports kept lazy for --help)."""
    from debugnet.ifnet import IfType, flag_names
    from debugnet.wire.ethernet import mac_to_str

    names = ",".join(flag_names(ifp.flags))
    lines = [f"{ifp.name}: flags={int(ifp.flags):x}<{names}> mtu {ifp.mtu} metric {ifp.metric}"]
    if ifp.type == IfType.ETHER and ifp.lladdr:
        lines.append(f"\tether {mac_to_str(ifp.lladdr)}")
    elif ifp.type == IfType.LOOP:
        lines.append("\tloop")
    for ifa in ifp.inet_addrs():
        text = f"\tinet {ifa.addr} netmask 0x{int(ifa.netmask or 0):08x}"
        if ifa.dstaddr is not None:
            text = f"\tinet {ifa.addr} --> {ifa.dstaddr} netmask 0x{int(ifa.netmask or 0):08x}"
        if ifa.broadaddr is not None:
            text += f" broadcast {ifa.broadaddr}"
        lines.append(text)
    lines.append(f"\tindex {ifp.index} link state {ifp.link_state.name}")
    s = ifp.stats
    lines.append(
        f"\tRX packets {s.ipackets} bytes {s.ibytes} errors {s.ierrors} "
        f"dropped {s.iqdrops} multicast {s.imcasts}"
    )
    lines.append(
        f"\tTX packets {s.opackets} bytes {s.obytes} errors {s.oerrors} "
        f"dropped {s.oqdrops} collisions {s.collisions}"
    )
    return "\n".join(lines) + "\n"
