"""What every restart trigger shares: kinds table, restart verbs, admission, the restart pipeline."""
