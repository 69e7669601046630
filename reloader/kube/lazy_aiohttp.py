"""aiohttp, imported when a feature first needs it, without loading the system's CA store.

The API client has its own HTTP/1.1 transport (``kube/transport.py``); aiohttp is left to what
only it does here: web sockets (``pods/exec`` of hooks), registries (image updates) and the
OpenID refresh of the optional extra. A default run never imports it (7 MB of RSS).

aiohttp builds two default TLS contexts when imported, each loading the system's CA store
(2 MB of RSS), and reloader uses neither: the API server's context comes from the kubeconfig
(``kube/tls.py``) and the registry client builds its own. So while aiohttp is imported, OpenSSL's
default paths point nowhere; they are restored at once, for every context made after.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

_NO_CA = "/nonexistent/reloader-no-ca"


def load() -> ModuleType:
    """The aiohttp module (imported on the first call)."""
    if "aiohttp" in sys.modules:
        return sys.modules["aiohttp"]
    saved = {name: os.environ.get(name) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    os.environ.update(dict.fromkeys(saved, _NO_CA))
    try:
        return importlib.import_module("aiohttp")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
