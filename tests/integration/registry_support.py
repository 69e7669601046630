"""A real container registry on loopback for the image-watch tests, and a way to push to it.

:class:`Registry` runs Debian's ``docker-registry`` (the distribution registry, installed by
``tools/registry/ensure.sh`` when missing) on a free port with a config file written here, with
or without htpasswd basic auth, and stops it by PID. :class:`TokenFront` puts a small token
service in front of one: it answers unauthenticated requests with a ``Bearer`` challenge, hands
out opaque tokens at its realm for the right basic credentials and forwards authorised requests
to the registry behind it (the Bearer flow is the client's logic; the registry is real).

Images are pushed without docker: a tiny config blob, one layer blob and an OCI manifest through
the distribution API. A different ``content`` gives a different manifest, so a new digest under
the same tag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry_binary() -> str:
    found = shutil.which("docker-registry")
    if found:
        return found
    out = subprocess.run(
        [str(REPO / "tools" / "registry" / "ensure.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=1300,
    )
    return out.stdout.strip().splitlines()[-1]


class Registry:
    """One distribution registry process on 127.0.0.1."""

    def __init__(self, directory: Path, *, user: str = "", password: str = "") -> None:
        self.directory = directory
        self.user, self.password = user, password
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30.0) -> None:
        binary = registry_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.directory / "data")}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.user:
            htpasswd = self.directory / "htpasswd"
            hashed = subprocess.run(
                ["htpasswd", "-Bbn", self.user, self.password],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            htpasswd.write_text(hashed + "\n")
            config["auth"] = {"htpasswd": {"realm": "tests", "path": str(htpasswd)}}
        path = self.directory / "config.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        log = (self.directory / "registry.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "serve", str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"registry exited: {(self.directory / 'registry.log').read_text()}"
                )
            try:
                status, _, _ = self.request("GET", "/v2/")
            except OSError:
                status = 0
            if status in (200, 401):
                return
            time.sleep(0.1)
        raise TimeoutError("the registry did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # ------------------------------------------------------------------ the distribution API
    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310 - loopback
        if self.user:
            raw = f"{self.user}:{self.password}".encode()
            req.add_header("Authorization", "Basic " + base64.b64encode(raw).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def _blob(self, repository: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, _ = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        assert status == 202, status
        location = headers["Location"]
        sep = "&" if "?" in location else "?"
        status, _, text = self.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        assert status == 201, (status, text)
        return digest

    def push(self, repository: str, tag: str, content: str) -> str:
        """Push a tiny image whose config carries ``content``; return its manifest digest."""
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"content": content}},
                "rootfs": {"type": "layers", "diff_ids": []},
            }
        ).encode()
        layer = f"layer of {content}".encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self._blob(repository, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": self._blob(repository, layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        status, headers, text = self.request(
            "PUT", f"/v2/{repository}/manifests/{tag}", manifest, {"Content-Type": OCI_MANIFEST}
        )
        assert status == 201, (status, text)
        digest = headers["Docker-Content-Digest"]
        assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
        return digest


class TokenFront:
    """A Bearer-token front for a registry without auth of its own (see the module docstring);
    without a ``user``, a plain front that can throttle."""

    def __init__(
        self, backend: Registry, *, user: str, password: str, strip_digest: bool = False
    ) -> None:
        self.backend = backend
        #: answer without Docker-Content-Digest (as some registries answer HEAD)
        self.strip_digest = strip_digest
        self.user, self.password = user, password
        self.tokens: set[str] = set()
        self.token_requests = 0
        #: (requests still to refuse with 429, their Retry-After)
        self._throttle = (0, 0)
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/token"):
                    front._token(self)
                else:
                    front._forward(self)

            def do_HEAD(self) -> None:
                front._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def throttle(self, count: int, retry_after: int) -> None:
        """Answer the next ``count`` registry requests 429 with ``Retry-After``."""
        self._throttle = (count, retry_after)

    def _token(self, handler: BaseHTTPRequestHandler) -> None:
        self.token_requests += 1
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if handler.headers.get("Authorization") != expected:
            handler.send_response(401)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        token = secrets.token_hex(16)
        self.tokens.add(token)
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        count, retry_after = self._throttle
        if count > 0:
            self._throttle = (count - 1, retry_after)
            handler.send_response(429)
            handler.send_header("Retry-After", str(retry_after))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        auth = handler.headers.get("Authorization", "")
        if self.user and (not auth.startswith("Bearer ") or auth[7:] not in self.tokens):
            repository = handler.path.removeprefix("/v2/").split("/manifests/")[0]
            handler.send_response(401)
            handler.send_header(
                "WWW-Authenticate",
                f'Bearer realm="http://{self.host}/token",service="tests",'
                f'scope="repository:{repository}:pull"',
            )
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        headers = {"Accept": handler.headers.get("Accept", "")}
        status, answer, body = self.backend.request(handler.command, handler.path, None, headers)
        handler.send_response(status)
        names = (
            ("Content-Type",) if self.strip_digest else ("Docker-Content-Digest", "Content-Type")
        )
        for name in names:
            if name in answer:
                handler.send_header(name, answer[name])
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
