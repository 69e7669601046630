"""The only package that talks to the API server: client, configuration, verbs, watches, errors."""
