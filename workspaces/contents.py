"""A Jupyter contents manager that refuses to change the project's extract.

Used by the local runtime, whose notebook servers run as root: file modes (0444/0555) do not
stop root, so the file manager and the REST contents API are told here that ``data/`` is
read-only. Kernels are not stopped by this: the local runtime is not a security boundary.
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado.web import HTTPError
from traitlets import List, Unicode


class ReadOnlyDataContentsManager(AsyncLargeFileManager):
    """``AsyncLargeFileManager`` with no writes, deletes or renames under ``read_only_dirs``."""

    read_only_dirs = List(
        Unicode(),
        default_value=["data"],
        config=True,
        help="Directories (relative to root_dir, symlinks followed) that the API may not change.",
    )

    def _check_writable(self, path: str) -> None:
        target = Path(os.path.realpath(self._get_os_path(path)))
        for name in self.read_only_dirs:
            protected = Path(os.path.realpath(os.path.join(self.root_dir, name)))
            if target.is_relative_to(protected):
                raise HTTPError(403, f"{name}/ is read-only")

    async def save(self, model, path=""):
        self._check_writable(path)
        return await super().save(model, path)

    async def delete_file(self, path):
        self._check_writable(path)
        return await super().delete_file(path)

    async def rename_file(self, old_path, new_path):
        self._check_writable(old_path)
        self._check_writable(new_path)
        return await super().rename_file(old_path, new_path)

    async def create_checkpoint(self, path):
        self._check_writable(path)
        return await super().create_checkpoint(path)
