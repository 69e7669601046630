"""Scheduled restarts: cron annotations restart a workload once per slot, rolling or stop-start."""
