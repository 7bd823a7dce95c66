"""The client's network paths: an ordinary UDP socket, and (later) its own ARP/IPv4/UDP."""
