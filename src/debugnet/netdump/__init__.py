"""The netdump client: a kernel dump's message sequence over a debugnet connection."""
