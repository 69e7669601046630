"""TLS to the API server with client-go's trust rules, and client certificates that rotate.

Trust, as client-go decides it:

- a CA (``certificate-authority-data``, else the ``certificate-authority`` file): that CA and
  nothing else; the system's roots are not loaded;
- no CA: the system's roots (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured, as Go does);
- ``insecure-skip-tls-verify``: no verification; together with a CA it is refused, as client-go
  refuses it;
- ``tls-server-name``: the name sent in SNI and checked against the certificate (the client passes
  it to each request as ``server_hostname``).

Client certificates: inline data wins over a file (each of certificate and key on its own, as
client-go's ``dataFromSliceOrFile``); files are re-read when they change (client-go reloads
rotated certificates), and an exec plugin's certificate is used as it is renewed. A change builds
a new ``SSLContext``: the transport pools connections per context, so every new connection
presents the new certificate while the old connections are left to finish.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog

from reloader.errors import ConfigError

log = structlog.get_logger(__name__)

INSECURE_WITH_CA = "specifying a root certificates file with the insecure flag is not allowed"
"""client-go's words for ``insecure-skip-tls-verify`` together with a CA."""

ClientIdentity = tuple[bytes, bytes]
"""A client certificate and its private key, PEM."""


@dataclass(frozen=True)
class TlsSettings:
    """The TLS fields of a kubeconfig cluster and user, or of the in-cluster account."""

    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    insecure: bool = False
    server_name: str | None = None

    @property
    def has_ca(self) -> bool:
        return bool(self.ca_data or self.ca_file)

    def check(self, cluster: str, user: str) -> None:
        """:raises ConfigError: a combination client-go refuses, naming the ``cluster`` or the
        ``user`` field it is in."""
        if self.insecure and self.has_ca:
            raise ConfigError(f"{cluster}: {INSECURE_WITH_CA} (insecure-skip-tls-verify is set "
                              "together with certificate-authority or -data)")  # fmt: skip
        has_cert = self.cert_data is not None or self.cert_file is not None
        has_key = self.key_data is not None or self.key_file is not None
        if has_cert != has_key:
            missing = (
                "client-key-data or client-key"
                if has_cert
                else "client-certificate-data or client-certificate"
            )
            raise ConfigError(f"{user}: {missing} must be specified to use the clientCert "
                              "authentication method")  # fmt: skip

    def ca_bytes(self) -> bytes | None:
        """The CA as client-go reads it: the data, else the file's content, else None."""
        if self.ca_data:
            return self.ca_data
        if self.ca_file:
            return Path(self.ca_file).read_bytes()
        return None


def build_context(settings: TlsSettings, identity: ClientIdentity | None = None) -> ssl.SSLContext:
    """One SSLContext with client-go's trust rules and the current client certificate.

    :param identity: a certificate and key (an exec plugin's), used instead of the settings'.
    :raises OSError, ValueError, ssl.SSLError: unreadable or invalid certificates.
    """
    ca = settings.ca_bytes()
    if ca is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, checks the name, no roots
        context.load_verify_locations(cadata=ca.decode("ascii", errors="replace"))
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # client-go's minimum
    cert, key = identity or (None, None)
    cert = settings.cert_data if cert is None else cert
    key = settings.key_data if key is None else key
    # ssl loads a client certificate only from files: inline data goes through a private
    # temporary directory, removed as soon as it is loaded
    with tempfile.TemporaryDirectory(prefix="reloader-tls-") as scratch:
        cert_path = settings.cert_file if cert is None else _private(scratch, "tls.crt", cert)
        key_path = settings.key_file if key is None else _private(scratch, "tls.key", key)
        if cert_path:
            context.load_cert_chain(cert_path, keyfile=key_path)
    if settings.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _private(directory: str, name: str, data: bytes) -> str:
    path = Path(directory, name)
    path.touch(mode=0o600)
    path.write_bytes(data)
    return str(path)


class TlsContexts:
    """The SSLContext of each request: built once, built again when the client certificate
    changes (its files rotated, or the exec plugin returned a new one)."""

    def __init__(self, settings: TlsSettings) -> None:
        self.settings = settings
        self._key: tuple[object, ...] | None = None
        self._context: ssl.SSLContext | None = None

    def context(self, identity: ClientIdentity | None = None) -> ssl.SSLContext:
        """The current context, built again when the certificate files or ``identity`` changed.

        A rotated certificate that cannot be loaded (caught half-way: the certificate written,
        the key not yet) leaves the previous context in use, with a warning, and is tried
        again at the next call.

        :raises OSError, ValueError, ssl.SSLError: the first context cannot be built.
        """
        key = (identity, _stamp(self.settings.cert_file), _stamp(self.settings.key_file))
        if self._context is None or key != self._key:
            try:
                self._context = build_context(self.settings, identity)
            except (OSError, ValueError) as exc:
                if self._context is None:
                    raise
                log.warning("kube.client_certificate_not_loaded", error=str(exc))
                return self._context
            self._key = key
        return self._context


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
