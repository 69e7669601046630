"""Pure rules of ``reloader.reboot``: data in, data out; no I/O, no clock."""
