"""Where dump bytes go: one interface and its backends.

interface.py holds what the recorder asks of storage (``DumpStore`` allocates
a dump, its ``DumpSink`` takes data at offsets, the key and info lines, makes
them durable and links "last") and the errors it may raise. directory.py is
the dump directory in netdumpd's or savecore's layout, with dirfd.py (every
path resolved under one directory descriptor), naming.py (file names and
client directories), writebehind.py (durable while arriving) and limits.py
(sizes and the free-space floor). s3/ streams dumps into an S3-compatible
bucket. The server picks a backend from its configuration; the catalogue
and the dashboard read what the backends wrote.
"""
