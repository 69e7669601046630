"""controllers layer (see DESIGN.md)."""
