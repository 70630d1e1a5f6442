"""Where a local workspace keeps its files: ``<root>/projects/<id>/``.

::

    <root>/projects/<id>/
      hub/            0700  the hub's own directory (cwd of the hub process)
        config.json   0600  traits loaded by workspaces/jupyterhub_config.py
        jupyterhub.sqlite   the hub's database
        cookie_secret 0600  proxy_auth_token 0600  crypt_key 0600  runtime_token 0600
        state.json          pid and ports of the running hub (see state.py)
        hub.log             hub, proxy and server output
      extract/        0555  the project's extract (files 0444), shown to users as data/
      users/<name>/         each user's home and notebook root: data -> ../../extract, outputs/
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

READ_ONLY_FILE = 0o444
READ_ONLY_DIR = 0o555


@dataclass(frozen=True)
class ProjectLayout:
    root: Path  # <root>/projects/<id>

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def config(self) -> Path:
        return self.hub / "config.json"

    @property
    def state(self) -> Path:
        return self.hub / "state.json"

    @property
    def log(self) -> Path:
        return self.hub / "hub.log"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.hub / 'jupyterhub.sqlite'}"

    @property
    def cookie_secret(self) -> Path:
        return self.hub / "cookie_secret"

    @property
    def extract(self) -> Path:
        return self.root / "extract"

    @property
    def users(self) -> Path:
        return self.root / "users"

    def create(self) -> None:
        """Create the directories and the hub's secrets (kept if they already exist)."""
        self.hub.mkdir(parents=True, exist_ok=True)
        self.hub.chmod(0o700)
        self.users.mkdir(exist_ok=True)
        self.extract.mkdir(exist_ok=True)
        seal_read_only(self.extract)
        # JupyterHub reads this file itself and insists on 0600
        self._secret_file(self.cookie_secret)

    def secret(self, name: str) -> str:
        """A random hex secret stored in ``hub/<name>`` (0600), created on first use."""
        return self._secret_file(self.hub / name)

    @staticmethod
    def _secret_file(path: Path) -> str:
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip()


def seal_read_only(directory: Path) -> None:
    """Make a tree read-only by mode: files 0444, directories 0555 (root is not stopped)."""
    for parent, dirs, files in os.walk(directory):
        for name in files:
            os.chmod(os.path.join(parent, name), READ_ONLY_FILE, follow_symlinks=False)
        for name in dirs:
            os.chmod(os.path.join(parent, name), READ_ONLY_DIR)
    directory.chmod(READ_ONLY_DIR)


def unseal(directory: Path) -> None:
    """Give the owner write access again throughout a tree (before removing it)."""
    for parent, dirs, _files in os.walk(directory):
        os.chmod(parent, 0o700)
        for name in dirs:
            os.chmod(os.path.join(parent, name), 0o700)
