"""Where the API server is and how to authenticate to it: the one loader of every command.

Our own reader of the kubeconfig format (client-go's rules), so that the process does not import
a generated client library for it (see docs/design/client.md). The controller, ``restart``,
``explain`` and ``node-agent`` all call :func:`load`, which also gives the namespace a command
defaults to, so a kubeconfig is parsed once. Where the configuration comes from, in
controller-runtime's order:

1. ``--kubeconfig`` (that file only);
2. ``$KUBECONFIG``, a list of files (``os.pathsep``) merged as kubectl merges them: the first file
   to define a cluster, user or context wins, the first ``current-context`` found is used,
   missing files are skipped;
3. the in-cluster account: ``KUBERNETES_SERVICE_HOST``/``_PORT``, the service account's token
   (re-read: bound tokens rotate) and CA;
4. ``~/.kube/config``.

Supported, as kubectl does:

- clusters: ``server``, ``certificate-authority`` / ``-data``, ``insecure-skip-tls-verify``,
  ``tls-server-name``, ``proxy-url`` (TLS rules in ``reloader.kube.tls``);
- users: ``token``, ``tokenFile`` (re-read, as it rotates), ``client-certificate`` / ``-data``,
  ``client-key`` / ``-data`` (files re-read when they rotate), ``username`` / ``password``,
  ``exec`` plugins (``reloader.kube.exec_plugin``), ``auth-provider`` ``oidc`` through the
  optional extra (``reloader.kube.auth_provider``), and impersonation: ``as``, ``as-uid``,
  ``as-groups``, ``as-user-extra`` (``Impersonate-*`` headers on every request);
- relative paths are relative to the kubeconfig file that names them;
- the namespace a command defaults to (client-go's ``Namespace()``): the context's, else in a
  cluster ``$POD_NAMESPACE`` or the service account's, else ``default``.

Errors are ``ConfigError`` naming the file and the field.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from reloader.errors import ConfigError
from reloader.kube.auth_provider import auth_provider
from reloader.kube.credentials import Credentials, Impersonation, StaticCredentials, TokenFile
from reloader.kube.exec_plugin import exec_plugin
from reloader.kube.tls import TlsSettings

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one API server, and the namespace commands default to."""

    server: str
    credentials: Credentials
    tls: TlsSettings = field(default_factory=TlsSettings)
    proxy_url: str | None = None
    impersonation: Impersonation = field(default_factory=Impersonation)
    namespace: str = "default"


def load(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """The connection, from the first source in controller-runtime's order (module docstring).

    :param kubeconfig: ``--kubeconfig``; :param context: ``--context``, else current-context.
    :raises ConfigError: the configuration is missing, unreadable or invalid (names the field).
    """
    if kubeconfig:
        paths = [Path(kubeconfig)]
    elif env := os.environ.get("KUBECONFIG"):
        paths = [Path(p) for p in env.split(os.pathsep) if p]
    elif in_cluster_possible():
        return in_cluster()
    else:
        home = Path.home() / ".kube" / "config"
        if not home.is_file():
            return in_cluster()  # raises, saying what is missing
        paths = [home]
    merged = _merge(paths, required=bool(kubeconfig))
    if merged.empty and in_cluster_possible():
        return in_cluster()  # client-go: an empty $KUBECONFIG merge falls back to in-cluster
    return _from_kubeconfig(merged, context, ", ".join(map(str, paths)))


def in_cluster_possible() -> bool:
    """Whether the in-cluster configuration can be loaded (client-go's ``Possible()``)."""
    return bool(
        os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.environ.get("KUBERNETES_SERVICE_PORT")
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def _in_cluster_namespace() -> str:
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        namespace = (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
    except OSError:
        namespace = ""
    return namespace or "default"


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
        tls=TlsSettings(ca_file=str(directory / "ca.crt")),
        namespace=_in_cluster_namespace(),
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
    empty: bool = True  # no file of the list existed


def _parse(path: Path, text: str) -> Any:
    """The document of a kubeconfig file: JSON as JSON, anything else as YAML.

    JSON is YAML too, and parses to the same document; reading it as JSON leaves the YAML
    parser unimported (it is imported here, on the first YAML file, not at start: 1.4 MB of RSS
    that an in-cluster controller, or one given a JSON kubeconfig, never needs).
    """
    if text.lstrip().startswith("{"):
        try:
            return msgspec.json.decode(text) or {}
        except msgspec.DecodeError:
            pass  # YAML's flow style also starts with "{": the YAML parser decides
    import yaml  # lazy: see above

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        # the YAML error would quote the offending line, which may hold a token
        raise ConfigError(f"kubeconfig {path} is not valid YAML") from exc


def _merge(paths: list[Path], *, required: bool) -> _Merged:
    merged = _Merged()
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            if required:
                raise ConfigError(f"kubeconfig {path} does not exist") from None
            continue  # kubectl skips missing files of $KUBECONFIG
        except OSError as exc:
            raise ConfigError(f"kubeconfig {path}: {exc.strerror}") from exc
        merged.empty = False
        doc = _parse(path, text)
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
    c = cluster.value
    cluster_field = f"kubeconfig {where}: clusters[{cluster_name}].cluster"
    server = c.get("server")
    if not isinstance(server, str) or not server:
        raise ConfigError(f"{cluster_field}.server is missing")
    user = merged.users.get(user_name) if isinstance(user_name, str) else None
    u, base = (user.value, user.base) if user else ({}, cluster.base)
    user_field = f"kubeconfig {where}: users[{user_name}].user"
    tls = TlsSettings(
        ca_file=_path(c.get("certificate-authority"), cluster.base),
        ca_data=_data(c, "certificate-authority-data", cluster_field),
        cert_file=_path(u.get("client-certificate"), base),
        key_file=_path(u.get("client-key"), base),
        cert_data=_data(u, "client-certificate-data", user_field),
        key_data=_data(u, "client-key-data", user_field),
        insecure=c.get("insecure-skip-tls-verify") is True,
        server_name=c.get("tls-server-name") or None,
    )
    tls.check(cluster_field, user_field)
    namespace = ctx.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        namespace = _in_cluster_namespace() if in_cluster_possible() else "default"
    return Connection(
        server=server.rstrip("/"),
        credentials=_credentials(u, base, user_field, str(user_name), server, c, tls),
        tls=tls,
        proxy_url=c.get("proxy-url") or None,
        impersonation=_impersonation(u, user_field, str(user_name)),
        namespace=namespace,
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
    user: dict[str, Any],
    base: Path,
    where: str,
    name: str,
    server: str,
    cluster: dict[str, Any],
    tls: TlsSettings,
) -> Credentials:
    if user.get("auth-provider") and user.get("exec"):
        raise ConfigError(f"{where}: auth-provider cannot be provided in combination with an "
                          "exec plugin")  # fmt: skip
    if user.get("token"):
        return StaticCredentials(f"Bearer {str(user['token']).strip()}")
    if user.get("tokenFile"):
        return TokenFile(Path(_path(user["tokenFile"], base) or ""))
    if user.get("exec"):
        try:
            ca = tls.ca_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{where}.exec: the cluster's CA {tls.ca_file}: {exc.strerror}"
            ) from exc
        return exec_plugin(user["exec"], base=base, where=f"{where}.exec", user=name,
                           cluster=cluster, server=server, ca=ca)  # fmt: skip
    if user.get("auth-provider"):
        return auth_provider(user["auth-provider"], where=f"{where}.auth-provider", base=base)
    if user.get("username") or user.get("password"):
        pair = f"{user.get('username', '')}:{user.get('password', '')}".encode()
        return StaticCredentials(f"Basic {base64.b64encode(pair).decode()}")
    return StaticCredentials(None)


def _impersonation(user: dict[str, Any], where: str, name: str) -> Impersonation:
    who, uid = user.get("as") or None, user.get("as-uid") or None
    groups = user.get("as-groups") or []
    extra = user.get("as-user-extra") or {}
    if not isinstance(groups, list):
        raise ConfigError(f"{where}.as-groups is not a list")
    if not isinstance(extra, dict) or not all(isinstance(v, list) for v in extra.values()):
        raise ConfigError(f"{where}.as-user-extra is not a mapping of lists")
    if not who and (uid or groups or extra):
        raise ConfigError(f"{where}: requesting uid, groups or user-extra for {name} without "
                          "impersonating a user (as)")  # fmt: skip
    return Impersonation(
        user=str(who) if who else None,
        uid=str(uid) if uid else None,
        groups=tuple(str(g) for g in groups),
        extra=tuple((str(k), tuple(str(v) for v in vs)) for k, vs in extra.items()),
    )
