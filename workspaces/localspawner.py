"""The local runtime's spawner: JupyterLab servers as processes on this machine.

Every user's server runs as the OS user that runs the hub (root here): there is no isolation
between users or from the machine. Each user gets ``<project>/users/<name>/`` as home and
notebook root — her work area, kept across server stops, culling and restarts — with
``data/`` a symlink to the project's extract (read-only through the notebook server's file
manager, see :mod:`workspaces.contents`), ``outputs/`` writable, and ``project/`` a symlink to
the folder the project's members share (``<project>/shared/``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Dict, Unicode, default, validate

from workspaces.hubconfig import WORKSPACE_MARKER_ENV

EGRESS_ENV_PREFIX = "SPE_EGRESS_"


class SpeLocalSpawner(SimpleLocalProcessSpawner):
    """``SimpleLocalProcessSpawner`` with the spe per-user layout and a minimal environment."""

    project_dir = Unicode(config=True, help="The project's directory (``<root>/projects/<id>``).")
    extract_dir = Unicode(config=True, help="The project's extract, shown as ``data/``.")
    egress_environment = Dict(
        Unicode(),
        config=True,
        help=f"""Variables for the egress command in users' servers; every name must start
        with {EGRESS_ENV_PREFIX!r}. The only way anything from the control plane reaches a
        server's environment.""",
    )

    @validate("egress_environment")
    def _egress_names(self, proposal):
        wrong = sorted(k for k in proposal.value if not k.startswith(EGRESS_ENV_PREFIX))
        if wrong:
            raise ValueError(f"egress_environment names must start with {EGRESS_ENV_PREFIX}: "
                             f"{wrong}")
        return proposal.value

    @default("home_dir_template")
    def _home_template(self):
        return os.path.join(self.project_dir, "users", "{username}")

    @default("notebook_dir")
    def _notebook_dir(self):
        return self.home_dir

    @default("cmd")
    def _cmd(self):
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("env_keep")
    def _env_keep(self):
        return ["PATH", "LANG", "LC_ALL"]

    @default("args")
    def _args(self):
        args = [
            "--ServerApp.contents_manager_class=workspaces.contents.ReadOnlyDataContentsManager",
        ]
        if os.geteuid() == 0:
            args.append("--ServerApp.allow_root=True")
        return args

    def prepare_home(self) -> Path:
        """Create ``users/<name>/`` with ``outputs/``, and the ``data`` and ``project`` links."""
        home = Path(self.home_dir)
        (home / "outputs").mkdir(parents=True, exist_ok=True)
        shared = Path(self.project_dir) / "shared"
        shared.mkdir(mode=0o700, exist_ok=True)
        for name, target in (("data", self.extract_dir), ("project", shared)):
            link = home / name
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(target, home), target_is_directory=True)
        return home

    def get_env(self):
        env = super().get_env()
        env[WORKSPACE_MARKER_ENV] = self.project_dir
        env.update(self.egress_environment)
        return env

    async def start(self):
        self.prepare_home()
        return await super().start()
