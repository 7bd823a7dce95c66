"""What a dump says, read from its bytes: info files, the minidump message buffer,
panic signatures, decryption and decompression.

Pure functions over bytes and file objects handed in by the caller: nothing
here opens a path, reads a clock or starts a thread, so every rule is tested
on hand-built bytes without a server.
"""
