"""The debugnet state machines, sans-I/O: datagrams and ``now`` in, datagrams and deadlines out."""
