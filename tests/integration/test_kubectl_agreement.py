"""kubectl and reloader agree on who a kubeconfig is, for every shape of kubeconfig.

kubectl (client-go) is the reference: for each row, one kubeconfig (or a ``$KUBECONFIG`` list),
``kubectl auth whoami -o json`` and reloader's own SelfSubjectReview (POST
``authentication.k8s.io/v1 selfsubjectreviews``, through ``KubeClient``) must give the same user,
uid, groups and extra, and the user the row expects. Each trust rule has a row both must refuse.

The server's certificate is the API server's own (``pki/apiserver.crt``, which holds its CA; its
names are 127.0.0.1 and ``kubernetes.default.svc``, not ``localhost``); client certificates are
signed by the cluster's client CA (``pki/client-ca.*``, the API server's ``--client-ca-file``).
``SSL_CERT_FILE`` makes a CA a "system root" for both programs (OpenSSL and Go read it).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from reloader.core.objects import ResourceType
from reloader.errors import ReloaderError
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.connect_proxy import connect_proxy
from tests.integration.support import ClusterInfo

REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SA = "agreement"
EXEC_V1 = "client.authentication.k8s.io/v1"
SERVICEACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount")


@dataclass
class Env:
    """What the rows build their kubeconfigs from."""

    dir: Path
    server: str
    port: int
    server_ca: Path
    client_ca: Path
    client_ca_key: Path
    admin_token: str
    sa_token: str
    sa_user: str
    proxy: str

    def b64(self, path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    def client_cert(self, name: str, subject: str) -> tuple[Path, Path]:
        """A client certificate signed by the cluster's client CA."""
        key, csr, crt = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        ext = self.dir / f"{name}.ext"
        ext.write_text("extendedKeyUsage=clientAuth\n")
        subprocess.run(
            ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", subject],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.client_ca),
             "-CAkey", str(self.client_ca_key), "-CAcreateserial", "-days", "1",
             "-out", str(crt), "-extfile", str(ext)],
            check=True, capture_output=True,
        )  # fmt: skip
        return crt, key

    def kubeconfig(
        self,
        name: str,
        *,
        cluster: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
        server: str | None = None,
    ) -> str:
        """One file: a cluster (the server's CA file unless ``cluster`` says otherwise) and a
        user (the admin token unless given)."""
        body = cluster if cluster is not None else {"certificate-authority": str(self.server_ca)}
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": server or self.server, **body}}],
            "users": [{"name": "u", "user": user or {"token": self.admin_token}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        }
        path = self.dir / f"{name}.kubeconfig"
        path.write_text(json.dumps(doc))
        return str(path)

    def exec_user(self, name: str, status: dict[str, str]) -> dict[str, Any]:
        """An exec plugin (``cat`` of a prepared ExecCredential) returning ``status``."""
        answer = {"apiVersion": EXEC_V1, "kind": "ExecCredential", "status": status}
        path = self.dir / f"{name}.json"
        path.write_text(json.dumps(answer))
        return {
            "exec": {
                "apiVersion": EXEC_V1,
                "command": "cat",
                "args": [str(path)],
                "interactiveMode": "Never",
            }
        }


@dataclass(frozen=True)
class Setup:
    kubeconfig: str  # the value of $KUBECONFIG (a list for the merged row)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    build: Callable[[Env], Setup]
    user: Callable[[Env], str] | None  # None: both must refuse ...
    refusal: str = ""  # ... with this in both messages


def _token(e: Env) -> Setup:
    return Setup(e.kubeconfig("token"))


def _token_file(e: Env) -> Setup:
    (e.dir / "token").write_text(e.sa_token + "\n")
    return Setup(e.kubeconfig("token-file", user={"tokenFile": str(e.dir / "token")}))


def _cert_files(e: Env) -> Setup:
    crt, key = e.client_cert("alice", "/CN=alice/O=dev/O=ops")
    user = {"client-certificate": str(crt), "client-key": str(key)}
    return Setup(e.kubeconfig("cert-files", user=user))


def _cert_data(e: Env) -> Setup:
    crt, key = e.client_cert("dora", "/CN=dora/O=data")
    user = {"client-certificate-data": e.b64(crt), "client-key-data": e.b64(key)}
    return Setup(e.kubeconfig("cert-data", user=user))


def _exec_token(e: Env) -> Setup:
    return Setup(e.kubeconfig("exec-token", user=e.exec_user("exec-token", {"token": e.sa_token})))


def _exec_cert(e: Env) -> Setup:
    crt, key = e.client_cert("carol", "/CN=carol/O=exec")
    status = {"clientCertificateData": crt.read_text(), "clientKeyData": key.read_text()}
    return Setup(e.kubeconfig("exec-cert", user=e.exec_user("exec-cert", status)))


def _ca_file_relative(e: Env) -> Setup:
    """A relative certificate-authority: relative to the kubeconfig file, not the process."""
    (e.dir / "ca").mkdir()
    (e.dir / "ca" / "server-ca.crt").write_bytes(e.server_ca.read_bytes())
    return Setup(e.kubeconfig("ca-file", cluster={"certificate-authority": "ca/server-ca.crt"}))


def _ca_data(e: Env) -> Setup:
    return Setup(
        e.kubeconfig("ca-data", cluster={"certificate-authority-data": e.b64(e.server_ca)})
    )


def _tls_server_name(e: Env) -> Setup:
    cluster = {
        "certificate-authority": str(e.server_ca),
        "tls-server-name": "kubernetes.default.svc",
    }
    return Setup(e.kubeconfig("sni", cluster=cluster, server=f"https://localhost:{e.port}"))


def _proxy(e: Env) -> Setup:
    cluster = {"certificate-authority": str(e.server_ca), "proxy-url": e.proxy}
    return Setup(e.kubeconfig("proxy", cluster=cluster))


def _impersonation(e: Env) -> Setup:
    user = {
        "token": e.admin_token,
        "as": "bob",
        "as-uid": "uid-42",
        "as-groups": ["team-a", "team-b"],
        "as-user-extra": {"acme.com/project": ["p1", "p2"], "reason": ["agreement test"]},
    }
    return Setup(e.kubeconfig("impersonation", user=user))


def _merged(e: Env) -> Setup:
    """Two files: the first names the context and defines the user; the second defines the
    cluster, the same user again (ignored: the first definition wins) and another
    current-context (ignored: the first one wins)."""
    first = e.dir / "merged-1.kubeconfig"
    first.write_text(json.dumps({
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": e.sa_token}}],
    }))  # fmt: skip
    second = e.dir / "merged-2.kubeconfig"
    second.write_text(json.dumps({
        "current-context": "other",
        "clusters": [{"name": "k", "cluster": {
            "server": e.server, "certificate-authority": str(e.server_ca)}}],
        "users": [{"name": "u", "user": {"token": e.admin_token}}],
        "contexts": [{"name": "other", "context": {"cluster": "k", "user": "nobody"}}],
    }))  # fmt: skip
    return Setup(f"{first}{os.pathsep}{e.dir / 'missing'}{os.pathsep}{second}")


def _insecure(e: Env) -> Setup:
    return Setup(e.kubeconfig("insecure", cluster={"insecure-skip-tls-verify": True}))


def _system_roots(e: Env) -> Setup:
    """No CA in the kubeconfig: the system's roots, here the server's CA."""
    return Setup(e.kubeconfig("roots", cluster={}), env={"SSL_CERT_FILE": str(e.server_ca)})


def _wrong_ca(e: Env) -> Setup:
    return Setup(e.kubeconfig("wrong-ca", cluster={"certificate-authority": str(e.client_ca)}))


def _wrong_ca_data_with_roots(e: Env) -> Setup:
    """The server's CA is a system root, but the kubeconfig names another CA: only that one."""
    cluster = {"certificate-authority-data": e.b64(e.client_ca)}
    return Setup(
        e.kubeconfig("wrong-ca-data", cluster=cluster), env={"SSL_CERT_FILE": str(e.server_ca)}
    )


def _insecure_with_ca(e: Env) -> Setup:
    cluster = {"certificate-authority": str(e.server_ca), "insecure-skip-tls-verify": True}
    return Setup(e.kubeconfig("insecure-ca", cluster=cluster))


def _name_not_in_certificate(e: Env) -> Setup:
    """localhost is not among the certificate's names, and no tls-server-name says otherwise."""
    return Setup(e.kubeconfig("no-sni", server=f"https://localhost:{e.port}"))


def _admin(e: Env) -> str:
    return "admin"


def _sa(e: Env) -> str:
    return e.sa_user


ROWS = {
    "token": Row(_token, _admin),
    "token-file": Row(_token_file, _sa),
    "client-certificate-files": Row(_cert_files, lambda e: "alice"),
    "client-certificate-data": Row(_cert_data, lambda e: "dora"),
    "exec-token": Row(_exec_token, _sa),
    "exec-client-certificate": Row(_exec_cert, lambda e: "carol"),
    "ca-file-relative": Row(_ca_file_relative, _admin),
    "ca-data": Row(_ca_data, _admin),
    "tls-server-name": Row(_tls_server_name, _admin),
    "proxy-url": Row(_proxy, _admin),
    "impersonation": Row(_impersonation, lambda e: "bob"),
    "kubeconfig-list-merged": Row(_merged, _sa),
    "insecure-without-ca": Row(_insecure, _admin),
    "system-roots-without-ca": Row(_system_roots, _admin),
    "refused-ca-not-the-servers": Row(_wrong_ca, None, "certificate"),
    "refused-ca-data-replaces-system-roots": Row(_wrong_ca_data_with_roots, None, "certificate"),
    "refused-insecure-with-ca": Row(
        _insecure_with_ca, None, "specifying a root certificates file with the insecure flag"
    ),
    "refused-name-not-in-certificate": Row(_name_not_in_certificate, None, "certificate"),
}


@dataclass(frozen=True)
class Refused:
    message: str


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    with connect_proxy() as running:
        yield running


@pytest.fixture
async def env(
    cluster: ClusterInfo,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    proxy: tuple[str, list[str]],
) -> Env:
    pki = cluster.kubeconfig.parent / "pki"
    assert (pki / "client-ca.key").is_file(), "needs the local control plane (tools/cluster)"
    admin = json.loads(cluster.kubeconfig.read_text())
    await resources.create(
        kube, SERVICEACCOUNTS, namespace=namespace, body={"metadata": {"name": SA}}
    )
    review = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{SA}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 3600}},
    )  # fmt: skip
    return Env(
        dir=tmp_path,
        server=kube.host,
        port=int(kube.host.rsplit(":", 1)[1]),
        server_ca=pki / "apiserver.crt",
        client_ca=pki / "client-ca.crt",
        client_ca_key=pki / "client-ca.key",
        admin_token=admin["users"][0]["user"]["token"],
        sa_token=review["status"]["token"],
        sa_user=f"system:serviceaccount:{namespace}:{SA}",
        proxy=proxy[0],
    )


async def _kubectl(cluster: ClusterInfo, setup: Setup, home: Path) -> dict[str, Any] | Refused:
    assert cluster.bin_dir is not None, "needs the local control plane (tools/cluster)"
    env = {
        "PATH": f"{cluster.bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "KUBECONFIG": setup.kubeconfig,
        **setup.env,
    }
    command = [str(cluster.bin_dir / "kubectl"), "auth", "whoami", "-o", "json",
               "--request-timeout=20s"]  # fmt: skip
    done = await anyio.run_process(command, env=env, check=False)
    if done.returncode != 0:
        return Refused(done.stderr.decode(errors="replace"))
    user: dict[str, Any] = json.loads(done.stdout)["status"]["userInfo"]
    return user


async def _reloader(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | Refused:
    monkeypatch.setenv("KUBECONFIG", setup.kubeconfig)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in setup.env.items():
        monkeypatch.setenv(name, value)
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        with anyio.fail_after(30):
            async with await KubeClient.connect() as client:
                review = await client.request("POST", REVIEW, body=body)
    except ReloaderError as exc:
        return Refused(str(exc))
    user: dict[str, Any] = review["status"]["userInfo"]
    return user


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
async def test_kubectl_and_reloader_agree(
    row: Row,
    cluster: ClusterInfo,
    env: Env,
    proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = row.build(env)
    theirs = await _kubectl(cluster, setup, env.dir)
    ours = await _reloader(setup, monkeypatch)
    if row.user is None:
        assert isinstance(theirs, Refused), f"kubectl accepted it: {theirs}"
        assert isinstance(ours, Refused), f"reloader accepted it: {ours}"
        assert row.refusal in theirs.message, theirs.message
        assert row.refusal in ours.message, ours.message
        return
    assert not isinstance(theirs, Refused), theirs.message
    assert not isinstance(ours, Refused), ours.message
    assert ours == theirs
    assert ours["username"] == row.user(env)
    if setup.kubeconfig.endswith("proxy.kubeconfig"):
        assert proxy[1] == [f"127.0.0.1:{env.port}"] * 2  # kubectl's tunnel, then ours
    else:
        assert proxy[1] == []
