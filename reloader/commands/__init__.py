"""Subcommands other than ``run``: ``restart`` and ``explain`` (one module each)."""
