"""Image references normalised as the container runtime does, and the kubelet's credential
matching."""

from __future__ import annotations

import base64
import json

import pytest

from reloader.images.domain.credentials import (
    Credential,
    key_matches,
    lookup,
    normalize_key,
    parse_docker_config,
)
from reloader.images.domain.references import is_loopback, parse_image

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "canonical", "api_host"),
    [
        ("nginx", "docker.io/library/nginx:latest", "registry-1.docker.io"),
        ("nginx:1.27", "docker.io/library/nginx:1.27", "registry-1.docker.io"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7", "registry-1.docker.io"),
        ("docker.io/nginx", "docker.io/library/nginx:latest", "registry-1.docker.io"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest", "registry-1.docker.io"),
        ("registry-1.docker.io/x/y:z", "docker.io/x/y:z", "registry-1.docker.io"),
        ("quay.io/org/app:v1", "quay.io/org/app:v1", "quay.io"),
        ("localhost/app", "localhost/app:latest", "localhost"),
        ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000"),
        ("registry:5000/app", "registry:5000/app:latest", "registry:5000"),
    ],
)
def test_names_are_normalised_as_the_runtime_does(
    image: str, canonical: str, api_host: str
) -> None:
    ref = parse_image(image)
    assert str(ref) == canonical
    assert ref.api_host == api_host
    assert not ref.pinned


def test_a_digest_pins_the_image() -> None:
    ref = parse_image(f"quay.io/org/app:v1@{DIGEST}")
    assert ref.pinned
    assert ref.tag == "v1"
    assert str(ref) == f"quay.io/org/app:v1@{DIGEST}"
    assert parse_image(f"app@{DIGEST}").tag == ""


@pytest.mark.parametrize(
    "image", ["", "UPPER/case", "app:", "app:bad tag", "app@sha256:short", "a//b", "app:-x"]
)
def test_bad_references_say_what_is_wrong(image: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_image(image)


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1:5000")
    assert is_loopback("localhost")
    assert is_loopback("[::1]:5000")
    assert not is_loopback("registry.example.com:5000")


@pytest.mark.parametrize(
    ("key", "normalised"),
    [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("http://quay.io/org", "quay.io/org"),
        ("registry.local:5000", "registry.local:5000"),
        ("https://gcr.io/v2/project", "gcr.io/project"),
    ],
)
def test_config_keys_are_indexed_as_the_kubelet_does(key: str, normalised: str) -> None:
    assert normalize_key(key) == normalised


@pytest.mark.parametrize(
    ("key", "image", "matches"),
    [
        ("quay.io", "quay.io/org/app", True),
        ("quay.io/org", "quay.io/org/app", True),
        ("quay.io/other", "quay.io/org/app", False),
        ("*.example.com", "eu.example.com/app", True),
        ("*.example.com", "example.com/app", False),  # the parts must be as many
        ("*.example.com", "a.b.example.com/app", False),
        ("registry.local:5000", "registry.local:5000/app", True),
        ("registry.local:5000", "registry.local/app", False),  # ports must be equal
        ("registry.local", "registry.local:5000/app", False),
        ("127.0.0.1:5000", "127.0.0.1:5000/a", True),
    ],
)
def test_host_matching(key: str, image: str, matches: bool) -> None:
    assert key_matches(key, image) is matches


def _secret(doc: object, field: str = ".dockerconfigjson") -> dict[str, str]:
    return {field: base64.b64encode(json.dumps(doc).encode()).decode()}


def test_dockerconfigjson_and_dockercfg_are_read() -> None:
    auth = base64.b64encode(b"bob:s3cret").decode()
    entries, problems = parse_docker_config(
        _secret({"auths": {"quay.io": {"auth": auth}}}), origin="Secret ns/a"
    )
    assert problems == ()
    assert entries == [("quay.io", Credential("bob", "s3cret", "Secret ns/a"))]
    legacy, problems = parse_docker_config(
        _secret({"r.local": {"username": "u", "password": "p"}}, ".dockercfg"), origin="x"
    )
    assert problems == ()
    assert legacy[0][1].username == "u"


def test_a_password_never_shows_in_a_repr() -> None:
    assert "s3cret" not in repr(Credential("bob", "s3cret", "Secret ns/a"))


def test_broken_pull_secrets_are_named() -> None:
    _, problems = parse_docker_config({".dockerconfigjson": "not base64!"}, origin="Secret ns/a")
    assert problems == ("Secret ns/a: .dockerconfigjson is not base64-encoded JSON",)
    _, problems = parse_docker_config({}, origin="Secret ns/b")
    assert "neither .dockerconfigjson nor .dockercfg" in problems[0]
    _, problems = parse_docker_config(_secret({"auths": {"q.io": {}}}), origin="Secret ns/c")
    assert "'q.io' has no usable username/password" in problems[0]


def test_the_most_specific_key_wins_and_docker_hub_falls_back() -> None:
    wide, narrow, hub = Credential("w", "1"), Credential("n", "2"), Credential("h", "3")
    entries = [("quay.io", wide), ("quay.io/org", narrow), ("https://index.docker.io/v1/", hub)]
    assert lookup(entries, "quay.io/org/app") == [narrow, wide]
    assert lookup(entries, "quay.io/else/app") == [wide]
    assert lookup(entries, "docker.io/library/nginx") == [hub]
    assert lookup(entries, "ghcr.io/x/y") == []
