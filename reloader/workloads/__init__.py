"""What every restart trigger shares: kinds table, restart verbs, admission, restart pipeline."""
