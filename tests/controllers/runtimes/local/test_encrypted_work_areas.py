"""The local runtime's encrypted work areas through a workspace's life, with a real hub:
mounted before the hub starts, locked (only ciphertext left) while suspended, mounted again
on resume, repaired after the watchdog stopped everything (a control plane's crash), and
never opened without the key."""

from __future__ import annotations

import dataclasses

import pytest

from controllers.runtimes.base import WorkspacePhase
from controllers.runtimes.local import LocalRuntime, encryption, processes
from spe.errors import TerminalError
from tests.controllers.runtimes.local.test_runtime import spawn
from tests.fixtures.workspaces import make_spec

pytestmark = pytest.mark.timeout(240)
KEY = "dGhlLXdvcmstYXJlYS1rZXktb2YtdGhpcy10ZXN0LTMyYg=="


def test_encrypted_work_areas_lock_when_suspended_and_survive_a_crash(runtime_root):
    runtime = LocalRuntime(runtime_root)
    assert runtime.encrypts_work_areas(), "gocryptfs and FUSE are needed (apt.txt)"
    spec = dataclasses.replace(make_spec("p-locked", users=("alice",)), work_area_key=KEY)
    layout = runtime.layout(spec.project_id)
    notes = layout.users / "alice" / "notes.txt"
    try:
        runtime.ensure(spec)
        assert encryption.mounted(layout.users)
        alice = spawn(runtime, spec.project_id, "alice")
        alice.execute("open('notes.txt', 'w').write('kept')\n")

        assert runtime.suspend(spec.project_id).phase is WorkspacePhase.SUSPENDED
        assert not encryption.mounted(layout.users)  # locked: nothing readable in clear
        assert list(layout.users.iterdir()) == []
        assert processes.workspace_pids(layout.root) == set()  # gocryptfs stopped too

        with pytest.raises(TerminalError, match="no key"):
            runtime.ensure(dataclasses.replace(spec, work_area_key=""))
        assert not encryption.mounted(layout.users)

        assert runtime.ensure(spec).phase is WorkspacePhase.READY
        assert notes.read_text() == "kept"

        # the watchdog's sweep after a control plane's crash: every marked process stopped
        processes.stop_pids(processes.workspace_pids(layout.root))
        assert not encryption.mounted(layout.users) or not _readable(notes)
        assert LocalRuntime(runtime_root).ensure(spec).phase is WorkspacePhase.READY
        assert notes.read_text() == "kept"
        again = spawn(runtime, spec.project_id, "alice")
        assert again.execute("print(open('notes.txt').read())").strip() == "kept"
    finally:
        runtime.delete(spec.project_id)
    assert not layout.root.exists() and not encryption.mounted(layout.users)


def _readable(path) -> bool:
    try:
        path.read_text()
    except OSError:
        return False
    return True
