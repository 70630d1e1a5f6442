"""Work areas encrypted at rest on the local runtime: gocryptfs over FUSE.

Each workspace keeps ``users/`` (the members' work areas) and ``shared/`` (the project
folder) as gocryptfs mounts of the cipher folders ``.users.gocryptfs/`` and
``.shared.gocryptfs/`` beside them. gocryptfs encrypts every file (AES-256-GCM) and name with
a master key of its own, kept in the cipher folder's ``gocryptfs.conf`` wrapped under the
password; the password is the project's work-area key from spe's key store, handed to
gocryptfs on its standard input (never in its arguments, environment or a file). Destroying
that key when the permit ends (the reconciler, before it deletes the workspace) leaves no way
to the master key: whatever of the cipher folders is left on the disk's free blocks or in a
backup stays unreadable. That is crypto-shredding, as good as the key store's destruction
(``assurance`` in the shred record).

The mounts are decrypted views for the workspace's processes; the runtime unmounts them when
the workspace is suspended or deleted, and the gocryptfs processes carry the workspace's
marker, so the watchdog stops them with the rest if the control plane dies (the mounts then
lock; the next ``ensure`` clears the dead mount points and mounts again).

Needs the ``gocryptfs`` program (Debian package), ``fusermount`` and a usable ``/dev/fuse``:
:func:`probe` mounts a scratch folder once to find out. Without them the runtime does not
encrypt, and says so (docs/workspaces.md): work areas are then deleted, not shredded.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from spe.errors import RetryableError, TerminalError

log = logging.getLogger(__name__)
FOLDERS = ("users", "shared")
SCRYPT_LOG_N = "10"
"""The password is a random 256-bit key, not something a person chose: stretching it adds
nothing, so the cheapest scrypt cost keeps mounting fast."""
CONF = "gocryptfs.conf"
TIMEOUT = 30.0


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def probe(scratch: Path) -> str:
    """Why this machine cannot encrypt work areas with gocryptfs ("" if it can): a real
    mount of a scratch folder under ``scratch`` with a throwaway password."""
    if not shutil.which("gocryptfs"):
        return "gocryptfs is not installed"
    if not _fusermount():
        return "fusermount is not installed"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not usable"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".probe-") as tmp:
        cipher, plain = Path(tmp) / "cipher", Path(tmp) / "plain"
        password = os.urandom(16).hex()
        try:
            _init(cipher, password, {})
            _mount(cipher, plain, password, {}, Path(os.devnull))
        except (RetryableError, TerminalError) as exc:
            return str(exc)
        try:
            (plain / "probe").write_text("probe")
        finally:
            _unmount(plain)
    return ""


def mounted(path: Path) -> bool:
    """Whether ``path`` is a mount point now (a dead FUSE mount included)."""
    wanted = str(path)
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            point = line.split(" ")[1].replace("\\040", " ").replace("\\134", "\\")
            if point == wanted:
                return True
    return False


class EncryptedFolders:
    """The work areas and project folder of one workspace as gocryptfs mounts."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def cipher(self, folder: str) -> Path:
        return self.root / f".{folder}.gocryptfs"

    def initialised(self) -> bool:
        """Whether this workspace's folders are encrypted (set up at its creation)."""
        return any((self.cipher(f) / CONF).exists() for f in FOLDERS)

    def fresh(self) -> bool:
        """Whether the plain folders are still empty, so they can become mounts."""
        return not any(any((self.root / f).iterdir()) for f in FOLDERS
                       if (self.root / f).is_dir() and not mounted(self.root / f))

    def open(self, password: str, env: dict[str, str], log_file: Path) -> None:
        """Create the cipher folders if new and mount each where its plain folder is; a
        live mount is kept, a dead one (its gocryptfs stopped) cleared first."""
        for folder in FOLDERS:
            plain, cipher = self.root / folder, self.cipher(folder)
            if mounted(plain):
                try:
                    os.stat(plain)
                    continue
                except OSError:  # "transport endpoint is not connected": remount
                    _unmount(plain)
            if not (cipher / CONF).exists():
                _init(cipher, password, env)
            plain.mkdir(mode=0o700, exist_ok=True)
            _mount(cipher, plain, password, env, log_file)

    def close(self) -> None:
        """Unmount whatever is mounted (the processes using it must be stopped first)."""
        for folder in FOLDERS:
            if mounted(self.root / folder):
                _unmount(self.root / folder)


def _run(args: list[str], password: str | None, env: dict[str, str],
         log_file: Path | None = None) -> None:
    path = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    errors = out if log_file else subprocess.PIPE  # the mounting daemon keeps its outputs
    try:
        result = subprocess.run(
            args, input=(password or "").encode(), stdout=out, stderr=errors,
            env={**path, **env}, timeout=TIMEOUT, start_new_session=True, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RetryableError(f"{args[0]} did not answer in {TIMEOUT} s") from exc
    finally:
        if log_file:
            out.close()
    if result.returncode != 0:
        detail = (result.stderr or b"").decode(errors="replace").strip()[-300:]
        raise TerminalError(f"{' '.join(a for a in args[:2])} failed ({result.returncode})"
                            f"{': ' + detail if detail else ''}")


def _init(cipher: Path, password: str, env: dict[str, str]) -> None:
    cipher.mkdir(mode=0o700, parents=True, exist_ok=True)
    _run(["gocryptfs", "-init", "-q", "-scryptn", SCRYPT_LOG_N, str(cipher)], password, env)


def _mount(cipher: Path, plain: Path, password: str, env: dict[str, str],
           log_file: Path) -> None:
    plain.mkdir(mode=0o700, parents=True, exist_ok=True)
    _run(["gocryptfs", "-q", "-nosyslog", str(cipher), str(plain)], password, env, log_file)


def _unmount(plain: Path) -> None:
    fusermount = _fusermount() or "fusermount"
    for args in ([fusermount, "-u", str(plain)], [fusermount, "-u", "-z", str(plain)]):
        if subprocess.run(args, capture_output=True, timeout=TIMEOUT,
                          check=False).returncode == 0:
            return
    log.warning("%s could not be unmounted", plain)
