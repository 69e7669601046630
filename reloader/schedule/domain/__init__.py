"""Pure rules of ``reloader.schedule``: data in, data out; no I/O, no clock."""
