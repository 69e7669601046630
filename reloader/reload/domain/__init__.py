"""Pure rules of ``reloader.reload``: data in, data out; no I/O, no clock."""
