"""Pure rules of ``reloader.workloads``: data in, data out; no I/O, no clock."""
