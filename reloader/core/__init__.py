"""Plain values every layer shares: object keys and resource types, annotation names, durations."""
