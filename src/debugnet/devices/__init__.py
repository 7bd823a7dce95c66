"""Drivers behind interfaces: in-memory wires, loopback, packet sockets, TAP, pcap.

The only package that touches ``AF_PACKET`` and ``/dev/net/tun``. Every
driver is a factory building an ``Ifnet`` with its ``IfOps``; capture is a
tap added to any interface, impairment is the ``sim`` link under a wire.
"""
