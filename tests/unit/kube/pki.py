"""Certificates for TLS tests, made with the openssl CLI: a CA, a server certificate, client
certificates, and a CA that signed none of them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rotated_cert: Path  # a second client certificate, CN=rotated
    rotated_key: Path
    other_ca: Path  # a CA that did not sign the server's certificate


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(directory: Path, name: str, subject: str, extensions: str) -> None:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
             cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
             "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


def make_pki(directory: Path) -> Pki:
    """A CA, a server certificate (127.0.0.1, apiserver.test), two client certificates and
    another CA, made with the openssl CLI in ``directory``."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)  # fmt: skip
    server_ext = "subjectAltName=IP:127.0.0.1,DNS:apiserver.test\nextendedKeyUsage=serverAuth\n"
    _issue(directory, "server", "/CN=apiserver", server_ext)
    _issue(directory, "client", "/CN=admin/O=system:masters", "extendedKeyUsage=clientAuth\n")
    _issue(directory, "rotated", "/CN=rotated", "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "other.key", "-out", "other.crt", "-days", "2",
             "-subj", "/CN=other-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             cwd=directory)  # fmt: skip
    return Pki(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        rotated_cert=directory / "rotated.crt",
        rotated_key=directory / "rotated.key",
        other_ca=directory / "other.crt",
    )
