"""Configuration-driven reloads: ConfigMap, Secret and CSI changes roll the workloads using them."""
