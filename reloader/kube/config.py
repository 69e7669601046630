"""Where the API server is and how to authenticate to it: a kubeconfig or the in-cluster account.

Our own reader of the kubeconfig format (client-go's rules), so that the process does not import
a generated client library for it (kubernetes_asyncio's models cost ~40 MB of RSS and 0.4 s of
start-up). Supported, as kubectl does:

- ``$KUBECONFIG`` as a list of files (``os.pathsep``): the first file to define a cluster, user
  or context wins, and the first ``current-context`` found is used;
- clusters: ``server``, ``certificate-authority`` / ``-data``, ``insecure-skip-tls-verify``,
  ``tls-server-name``, ``proxy-url``;
- users: ``token``, ``tokenFile`` (re-read, as it rotates), ``client-certificate`` / ``-data``,
  ``client-key`` / ``-data``, ``username`` / ``password``, and ``exec`` credential plugins
  (``client.authentication.k8s.io`` v1 and v1beta1, token credentials; re-run when the token
  expires or the server answers 401);
- relative paths are relative to the kubeconfig file that names them;
- in-cluster: ``KUBERNETES_SERVICE_HOST``/``_PORT`` and the service account's token (re-read
  every minute: bound tokens rotate) and CA.
- the namespace a command defaults to (:func:`default_namespace`): the context's, else in a
  cluster ``$POD_NAMESPACE`` or the service account's, else ``default``.

Not supported, with a ConfigError naming the field: ``auth-provider`` (removed from kubectl in
1.26; use an exec plugin) and exec plugins that return client certificates.

The credentials chosen here (static, token file, exec plugin) are in ``reloader.kube.credentials``.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reloader.errors import ConfigError
from reloader.kube.credentials import Credentials, ExecPlugin, StaticCredentials, TokenFile

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one API server."""

    server: str
    credentials: Credentials
    ca_file: str | None = None
    ca_data: bytes | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings.

        :raises OSError, ValueError, ssl.SSLError: unreadable or invalid certificates.
        """
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.ca_data:
            context.load_verify_locations(cadata=self.ca_data.decode())
        # ssl loads a client certificate only from files: inline data goes through a private
        # temporary directory, removed as soon as it is loaded
        with tempfile.TemporaryDirectory(prefix="reloader-tls-") as scratch:
            cert, key = self.cert_file, self.key_file
            if self.cert_data is not None:
                cert = _private_file(Path(scratch, "client.crt"), self.cert_data)
            if self.key_data is not None:
                key = _private_file(Path(scratch, "client.key"), self.key_data)
            if cert:
                context.load_cert_chain(cert, keyfile=key)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _private_file(path: Path, data: bytes) -> str:
    path.touch(mode=0o600)
    path.write_bytes(data)
    return str(path)


def kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    """The kubeconfig files to read: the given path, else $KUBECONFIG, else ~/.kube/config."""
    if kubeconfig:
        return [Path(kubeconfig)]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    default = Path.home() / ".kube" / "config"
    return [default] if default.is_file() else []


def load(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """The connection of a kubeconfig (see ``kubeconfig_paths``), else of the service account.

    :raises ConfigError: the configuration is missing, unreadable or invalid (names the field).
    """
    paths = kubeconfig_paths(kubeconfig)
    if not paths:
        return in_cluster()
    return _from_kubeconfig(_merge(paths), context, ", ".join(map(str, paths)))


def default_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace kubectl uses when none is given (client-go's ``Namespace()``).

    The namespace of the context (``context``, else the merged ``current-context``); without
    one, in a cluster (see :func:`in_cluster_possible`), ``$POD_NAMESPACE`` or the service
    account's namespace; else ``default``. Never raises: an unusable kubeconfig gives the
    fallback here, and its error when connecting.
    """
    paths = kubeconfig_paths(kubeconfig)
    try:
        merged = _merge(paths)
    except ConfigError:
        merged = _Merged()
    name = context or merged.current_context
    entry = merged.contexts.get(name) if name else None
    namespace = entry.value.get("namespace") if entry else None
    if isinstance(namespace, str) and namespace:
        return namespace
    if not in_cluster_possible():
        return "default"
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        namespace = (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
    except OSError:
        namespace = ""
    return namespace or "default"


def in_cluster_possible() -> bool:
    """Whether the in-cluster configuration can be loaded (client-go's ``Possible()``)."""
    return bool(
        os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.environ.get("KUBERNETES_SERVICE_PORT")
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def in_cluster() -> Connection:
    """The pod's service account and the API server's service environment variables."""
    directory = SERVICE_ACCOUNT_DIR
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError(
            "no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a cluster "
            "(KUBERNETES_SERVICE_HOST/PORT are not set)"
        )
    token = directory / "token"
    if not token.is_file():
        raise ConfigError(f"in-cluster configuration: the service account token {token} is missing")
    host = f"[{host}]" if ":" in host else host
    return Connection(
        server=f"https://{host}:{port}",
        credentials=TokenFile(token),
        ca_file=str(directory / "ca.crt"),
    )


@dataclass
class _Entry:
    value: dict[str, Any]
    base: Path  # directory of the file that defined it


@dataclass
class _Merged:
    current_context: str | None = None
    clusters: dict[str, _Entry] = field(default_factory=dict)
    users: dict[str, _Entry] = field(default_factory=dict)
    contexts: dict[str, _Entry] = field(default_factory=dict)


def _merge(paths: list[Path]) -> _Merged:
    merged = _Merged()
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            if len(paths) == 1:
                raise ConfigError(f"kubeconfig {path} does not exist") from None
            continue  # kubectl skips missing files of a $KUBECONFIG list
        except OSError as exc:
            raise ConfigError(f"kubeconfig {path}: {exc.strerror}") from exc
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            # the YAML error would quote the offending line, which may hold a token
            raise ConfigError(f"kubeconfig {path} is not valid YAML") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {path} is not a mapping")
        merged.current_context = merged.current_context or doc.get("current-context") or None
        for section, key, into in (
            ("clusters", "cluster", merged.clusters),
            ("users", "user", merged.users),
            ("contexts", "context", merged.contexts),
        ):
            for i, item in enumerate(doc.get(section) or []):
                where = f"kubeconfig {path}: {section}[{i}]"
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    raise ConfigError(f"{where}.name is missing")
                body = item.get(key) or {}
                if not isinstance(body, dict):
                    raise ConfigError(f"{where}.{key} is not a mapping")
                into.setdefault(item["name"], _Entry(body, path.parent))
    return merged


def _from_kubeconfig(merged: _Merged, context: str | None, where: str) -> Connection:
    name = context or merged.current_context
    if not name:
        raise ConfigError(f"kubeconfig {where}: no current-context and no --context")
    if name not in merged.contexts:
        raise ConfigError(f"kubeconfig {where}: context {name!r} is not defined")
    ctx = merged.contexts[name].value
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged.clusters:
        raise ConfigError(f"kubeconfig {where}: context {name!r} names cluster {cluster_name!r}, "
                          "which is not defined")  # fmt: skip
    cluster = merged.clusters[cluster_name]
    server = cluster.value.get("server")
    if not isinstance(server, str) or not server:
        raise ConfigError(f"kubeconfig {where}: clusters[{cluster_name}].cluster.server is missing")
    user = merged.users.get(user_name) if isinstance(user_name, str) else None
    u, base = (user.value, user.base) if user else ({}, cluster.base)
    field_of = f"kubeconfig {where}: users[{user_name}].user"
    c = cluster.value
    return Connection(
        server=server.rstrip("/"),
        credentials=_credentials(u, base, field_of, server, c),
        ca_file=_path(c.get("certificate-authority"), cluster.base),
        ca_data=_data(
            c, "certificate-authority-data", f"kubeconfig {where}: clusters[{cluster_name}].cluster"
        ),
        cert_file=_path(u.get("client-certificate"), base),
        key_file=_path(u.get("client-key"), base),
        cert_data=_data(u, "client-certificate-data", field_of),
        key_data=_data(u, "client-key-data", field_of),
        insecure=c.get("insecure-skip-tls-verify") is True,
        tls_server_name=c.get("tls-server-name") or None,
        proxy_url=c.get("proxy-url") or None,
    )


def _path(value: object, base: Path) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return str(base / Path(value).expanduser())  # an absolute value replaces base


def _data(section: dict[str, Any], key: str, where: str) -> bytes | None:
    value = section.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError as exc:
        raise ConfigError(f"{where}.{key} is not valid base64") from exc


def _credentials(
    user: dict[str, Any], base: Path, where: str, server: str, cluster: dict[str, Any]
) -> Credentials:
    if user.get("auth-provider"):
        raise ConfigError(f"{where}.auth-provider is not supported (removed from kubectl in "
                          "1.26): use an exec credential plugin")  # fmt: skip
    if user.get("token"):
        return StaticCredentials(f"Bearer {str(user['token']).strip()}")
    if user.get("tokenFile"):
        return TokenFile(Path(_path(user["tokenFile"], base) or ""))
    if user.get("exec"):
        return _exec_plugin(user["exec"], base, f"{where}.exec", server, cluster)
    if user.get("username") or user.get("password"):
        pair = f"{user.get('username', '')}:{user.get('password', '')}".encode()
        return StaticCredentials(f"Basic {base64.b64encode(pair).decode()}")
    return StaticCredentials(None)


_CLUSTER_INFO_FIELDS = {
    "tls-server-name": "tlsServerName",
    "insecure-skip-tls-verify": "insecureSkipTLSVerify",
    "certificate-authority-data": "certificateAuthorityData",
    "proxy-url": "proxyURL",
    "disable-compression": "disableCompression",
}


def _exec_plugin(
    spec: object, base: Path, where: str, server: str, cluster: dict[str, Any]
) -> ExecPlugin:
    if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
        raise ConfigError(f"{where}.command is missing")
    command: str = spec["command"]
    if os.sep in command and not os.path.isabs(command):
        command = str(base / command)
    env: dict[str, str] = {}
    for i, item in enumerate(spec.get("env") or []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{where}.env[{i}].name is missing")
        env[item["name"]] = str(item.get("value", ""))
    info: dict[str, Any] | None = None
    if spec.get("provideClusterInfo"):  # the Cluster of client.authentication.k8s.io, camelCase
        info = {"server": server}
        for key, name in _CLUSTER_INFO_FIELDS.items():
            if cluster.get(key) not in (None, ""):
                info[name] = cluster[key]
    return ExecPlugin(
        command=command,
        args=[str(a) for a in spec.get("args") or []],
        env=env,
        api_version=str(spec.get("apiVersion") or "client.authentication.k8s.io/v1"),
        cluster_info=info,
    )
