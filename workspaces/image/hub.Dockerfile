# A project hub: JupyterHub, configurable-http-proxy (its Python implementation, so no
# Node.js), KubeSpawner, OAuthenticator and the idle culler. Configuration comes from the
# ConfigMap and Secret the Kubernetes runtime renders (workspaces/jupyterhub_config.py and
# hub.json); spe itself is not installed. Built by scripts/images.sh, or:
#
#   buildah bud --build-arg BASE_IMAGE=docker.io/library/debian:bookworm-slim \
#       -f workspaces/image/hub.Dockerfile -t spe-hub:0.1.0 workspaces/image
#
# Runs as uid 1000 (gid 100) with a read-only root filesystem: its state (sqlite database,
# proxy pid) lives on its volume at /srv/jupyterhub, scratch files in /tmp.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS builder
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/hub
COPY hub-requirements.txt /tmp/hub-requirements.txt
# The host's CA bundle, if given, is a build secret, and pip's download cache a cache
# mount shared by the three builds: neither is stored in any layer.
RUN --mount=type=secret,id=hostca --mount=type=cache,id=spe-pip,target=/root/.cache/pip \
    if [ -s /run/secrets/hostca ]; then export PIP_CERT=/run/secrets/hostca; fi; \
    /opt/hub/bin/pip install --disable-pip-version-check \
       -r /tmp/hub-requirements.txt \
    && /opt/hub/bin/pip uninstall -y -q pip setuptools

FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates python3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --uid 1000 --gid 100 --no-create-home --home-dir /srv/jupyterhub hub \
    && install -d -o 1000 -g 100 -m 0750 /srv/jupyterhub
COPY --from=builder /opt/hub /opt/hub
ENV PATH=/opt/hub/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 1000:100
WORKDIR /srv/jupyterhub
EXPOSE 8000 8081
CMD ["jupyterhub"]
