"""The node agent (``reloader node-agent``, a DaemonSet): kured-compatible, coordinated reboots."""
