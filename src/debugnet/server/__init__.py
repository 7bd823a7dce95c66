"""The netdumpd-compatible dump server: sockets, storage and handlers around ServerSession."""
