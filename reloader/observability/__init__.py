"""Logs, metrics, Kubernetes Events, the HTTP endpoints, and outgoing webhooks and alerts."""
