"""debugnet: FreeBSD's network crash-dump and remote-debug system in Python."""

__version__ = "0.1.0"
