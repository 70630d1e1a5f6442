# A project hub: JupyterHub (with configurable-http-proxy) + KubeSpawner + OAuthenticator +
# the idle culler. Configuration comes from the ConfigMap and Secret the Kubernetes runtime
# renders (workspaces/jupyterhub_config.py and hub.json); spe itself is not installed.
#
#   docker build -f workspaces/image/hub.Dockerfile -t ghcr.io/spe-project/spe-hub:0.1.0 \
#       workspaces/image
FROM quay.io/jupyterhub/jupyterhub:5.3

COPY hub-requirements.txt /tmp/hub-requirements.txt
RUN pip install --no-cache-dir -r /tmp/hub-requirements.txt && rm /tmp/hub-requirements.txt

# The hub's state (sqlite database, proxy pid) lives on its volume at /srv/jupyterhub.
RUN useradd --uid 1000 --gid 100 --no-create-home --home-dir /srv/jupyterhub hub \
    && mkdir -p /srv/jupyterhub && chown 1000:100 /srv/jupyterhub
USER 1000:100
WORKDIR /srv/jupyterhub
