"""observability layer (see DESIGN.md)."""
