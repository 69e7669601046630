"""The whole exception hierarchy of reloader, and the exit codes of its commands.

Plain classes, usable from every layer::

    ReloaderError
     ├── ConfigError                 bad flag or environment value (exit code 2)
     ├── PermanentError              a reconcile that retrying cannot fix
     └── KubeError                   anything the API server or the connection to it did
          ├── KubeConnectionError    no HTTP answer (refused, reset, timed out)
          ├── KubeServerError        5xx
          └── KubeClientError        4xx
               ├── NotFound          404
               ├── Conflict          409 (stale resourceVersion, or already exists)
               ├── Forbidden         403
               ├── Gone              410 (a watch resourceVersion expired)
               ├── Invalid           422
               └── TooManyRequests   429, with ``retry_after`` seconds when the server gave one

Bad user *annotations* are not exceptions: they are data (warnings in a decision).
"""

from __future__ import annotations

import sys


class ReloaderError(Exception):
    """Root of every error reloader raises on purpose."""


class ConfigError(ReloaderError):
    """Raised at startup when a flag or environment value is invalid; the CLI exits with 2."""


class PermanentError(ReloaderError):
    """Raised by a reconcile when retrying cannot help; logged and counted, not retried."""


class KubeError(ReloaderError):
    """Raised when a request to the Kubernetes API fails.

    ``status`` is the HTTP status (0 when there was no answer), ``reason`` the Status reason and
    ``message`` the Status message, both truncated; never a response body of another kind.
    """

    def __init__(self, message: str = "", *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class KubeConnectionError(KubeError):
    """Raised when the API server could not be reached or the connection broke."""


class KubeServerError(KubeError):
    """Raised on a 5xx answer."""


class KubeClientError(KubeError):
    """Raised on a 4xx answer without a more specific class."""


class NotFound(KubeClientError):
    """Raised on 404: the object or the resource type does not exist."""


class Conflict(KubeClientError):
    """Raised on 409: the object changed since it was read, or already exists."""


class Forbidden(KubeClientError):
    """Raised on 403: RBAC does not allow the request."""


class Gone(KubeClientError):
    """Raised on 410: a watch or list resourceVersion is too old; the caller must re-list."""


class Invalid(KubeClientError):
    """Raised on 422: the API server rejected the object or the patch."""


class TooManyRequests(KubeClientError):
    """Raised on 429; ``retry_after`` holds the server's Retry-After in seconds, if any."""

    def __init__(
        self, message: str = "", *, status: int = 429, reason: str = "", retry_after: float | None
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after


#: exit codes of every command: 0 done; 1 the action failed or timed out (or the API refused
#: it); 2 bad input (flags, KIND/NAME, an object that does not exist, an unusable kubeconfig)
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int) -> int:
    """Print ``reloader: error: MESSAGE`` on stderr and return ``code``."""
    print(f"reloader: error: {message}", file=sys.stderr)  # noqa: T201 - a CLI's output
    return code
