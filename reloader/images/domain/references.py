"""Image references as the container runtime reads them.

``nginx`` is ``docker.io/library/nginx:latest``; ``quay.io/org/app:1.2`` is a registry host, a
repository and a tag; ``app@sha256:…`` is pinned by digest. The first path component is a
registry host when it contains a ``.`` or a ``:``, or is ``localhost``; otherwise the image is on
Docker Hub, whose one-component names live under ``library/``. Docker Hub's API is served by
``registry-1.docker.io``, whatever the name says (``docker.io``, ``index.docker.io``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One normalised image reference."""

    #: the registry host as named (``docker.io`` for Docker Hub), with its port if any
    host: str
    #: the repository path (``library/nginx``)
    repository: str
    tag: str
    #: ``sha256:…`` when the reference is pinned by digest
    digest: str = ""

    @property
    def name(self) -> str:
        """``host/repository``: what credentials are matched against."""
        return f"{self.host}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host the distribution API is served from."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def pinned(self) -> bool:
        return bool(self.digest)

    def __str__(self) -> str:
        """The canonical form, ``host/repository:tag`` (and ``@digest`` when pinned)."""
        text = f"{self.name}:{self.tag}" if self.tag else self.name
        return f"{text}@{self.digest}" if self.digest else text


def parse_image(image: str) -> ImageRef:
    """Normalise ``image`` as the runtime does; ValueError names what is wrong."""
    text = image.strip()
    if not text:
        raise ValueError("the image is empty")
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{digest!r} is not a digest")
    host, repository = _split_host(rest)
    tag = ""
    slash = repository.rfind("/")
    colon = repository.rfind(":")
    if colon > slash:
        repository, tag = repository[:colon], repository[colon + 1 :]
        if not _TAG.match(tag):
            raise ValueError(f"{tag!r} is not a valid tag")
    if not repository or not all(_COMPONENT.match(p) for p in repository.split("/")):
        raise ValueError(f"{repository!r} is not a valid repository name")
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not tag and not digest:
        tag = "latest"
    return ImageRef(host=host, repository=repository, tag=tag, digest=digest)


def _split_host(rest: str) -> tuple[str, str]:
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.match(first):
            raise ValueError(f"{first!r} is not a valid registry host")
        host = DOCKER_HUB if first.lower() in _HUB_ALIASES else first
        return host, remainder
    return DOCKER_HUB, rest


def is_loopback(host: str) -> bool:
    """A registry on this machine (spoken to over plain HTTP, as the runtime does)."""
    bare = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return bare in ("localhost", "[::1]") or bare.startswith("127.")
