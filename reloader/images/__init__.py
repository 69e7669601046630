"""Restarts when the image behind a tag changes (docs/images.md)."""
