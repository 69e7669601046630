# syntax=docker/dockerfile:1
# The reloader controller image.
#
#   docker build -t reloader .                                   # on the public Python base
#   tools/image/build.sh                                         # here: buildah, no daemon, a
#                                                                # local debootstrapped base
#
# Build stages make a virtualenv at /opt/venv with the package and its dependencies from PyPI
# (deps: the dependencies; venv: those without pip; app: the package); the runtime stage copies
# only the venv, in two layers (dependencies, package). The venv's interpreter is a symlink to
# the base's python3, so every stage uses the same BASE.
#
# At runtime the image runs as 65532:65532 and writes nothing outside /tmp (mount an emptyDir
# there), so it works with readOnlyRootFilesystem: true.

ARG BASE=python:3.11-slim-bookworm

# ------------------------------------------------------------------------------------ deps
# The virtualenv with the dependencies (and the build backend): rebuilt only when pyproject.toml
# changes, so a change of the sources reuses it, here and as the runtime image's big layer.
FROM ${BASE} AS deps

# Optional: a CA bundle for pip (a file mounted into the build: buildah bud -v), and its index.
ARG PIP_CERT=""
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
# A stub package stands in for the sources so that pip resolves the real dependency list; the
# build backend (build-system.requires) goes in too, for the --no-build-isolation build below.
RUN mkdir reloader && touch reloader/__init__.py \
    && /opt/venv/bin/pip install --quiet . \
    && /opt/venv/bin/pip uninstall --quiet --yes reloader \
    && /opt/venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' >build-requires.txt \
    && /opt/venv/bin/pip install --quiet -r build-requires.txt \
    && rm -rf reloader build ./*.egg-info

# ------------------------------------------------------------------------------------ venv
# What the runtime gets of it: no pip, no setuptools (nothing installs at runtime).
FROM deps AS venv
RUN /opt/venv/bin/python -m pip uninstall --quiet --yes pip setuptools

# ------------------------------------------------------------------------------------ app
# The package itself, staged under /out with the venv's own paths (a layer of a few hundred kB).
FROM deps AS app
COPY reloader ./reloader
RUN /opt/venv/bin/pip install --quiet --no-deps --no-build-isolation --no-warn-script-location \
        --root /out . \
    && cp -a /out/. / && /opt/venv/bin/reloader --version

# ------------------------------------------------------------------------------------ runtime
FROM ${BASE} AS runtime

# A name for uid/gid 65532 (the distroless "nonroot" convention); the image runs by number.
RUN echo 'nonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin' >>/etc/passwd \
    && echo 'nonroot:x:65532:' >>/etc/group

COPY --from=venv /opt/venv /opt/venv
COPY --from=app /out/ /

# Docstrings left out (-OO: PYTHONOPTIMIZE=2): 1.2 MB less idle RSS, and nothing reads them at
# runtime (docs/design/architecture.md, "Memory"). The bytecode of that level is compiled here:
# with PYTHONDONTWRITEBYTECODE, a module without it would be compiled again at every start, which
# costs CPU and leaves the compiler's garbage in the heap. All of the venv; of the standard
# library, the modules the controller and the subcommands import (all of it would add 10 MB).
RUN python3 -OO -m compileall -q -j0 /opt/venv/lib \
    && /opt/venv/bin/python -OO -c 'import reloader.app, reloader.cli.explain, reloader.commands.restart, reloader.reboot.cli'

ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONOPTIMIZE=2 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    HOME=/tmp

USER 65532:65532
WORKDIR /tmp
EXPOSE 9090
ENTRYPOINT ["reloader"]

# Last: these change with every build. (buildah 1.28's layer cache ignores build-arg values, so
# an image whose content did not change keeps the labels of the build that first made it.)
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED
LABEL org.opencontainers.image.title="reloader" \
      org.opencontainers.image.description="Level-triggered Kubernetes restart controller, drop-in compatible with stakater/Reloader" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
