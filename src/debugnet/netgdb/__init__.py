"""netgdb: the GDB proxy a panicked kernel connects to, and a target that plays the kernel."""
