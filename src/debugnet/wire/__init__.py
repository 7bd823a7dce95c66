"""Byte formats: parse validates, emit writes exact bytes. No I/O."""
