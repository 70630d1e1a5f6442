# The control-plane image: `spe serve` (the API) and `spe controller`, with the compiled
# audit verifier (spe/audit/_native.c), built by scripts/images.sh or any OCI builder:
#
#   buildah bud --build-arg BASE_IMAGE=docker.io/library/debian:bookworm-slim -t spe:0.1.0 .
#
# Two stages: the builder compiles and installs spe into a virtualenv; the final stage
# copies that virtualenv onto a Debian base holding only Python and the shared libraries
# the verifier links (libpq, SQLite, OpenSSL): no compiler, no headers, no pip cache.
# Runs as uid 10001 with a read-only root filesystem: writable state only under /tmp and
# /var/lib/spe (volumes in the Helm chart).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS builder
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates python3 python3-venv python3-dev gcc libc6-dev libpq-dev \
       libsqlite3-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/spe
COPY . /src
# The host's CA bundle, if the builder was given one (scripts/images.sh does), is a build
# secret, and pip's download cache a cache mount shared with the workspace and hub builds:
# neither is stored in any layer.
RUN --mount=type=secret,id=hostca --mount=type=cache,id=spe-pip,target=/root/.cache/pip \
    if [ -s /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi; \
    /opt/spe/bin/pip install --disable-pip-version-check /src \
    && /opt/spe/bin/python -c "import spe.audit._native" \
    && /opt/spe/bin/pip uninstall -y -q pip setuptools

FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates python3 libpq5 libsqlite3-0 libssl3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 spe \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/spe --no-create-home spe \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/spe
COPY --from=builder /opt/spe /opt/spe
ENV PATH=/opt/spe/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SPE_DATA_DIR=/var/lib/spe
USER 10001:10001
WORKDIR /var/lib/spe
EXPOSE 8000
ENTRYPOINT ["spe"]
CMD ["serve"]
