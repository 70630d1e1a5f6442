"""Fetch the project's extract into a directory, once per extract version.

Runs in the project's extract Job (Kubernetes runtime), with the only copy of the project's
short-lived grant (environment ``SPE_GRANT_URL`` and ``SPE_GRANT_TOKEN``, from the
``extract-grant`` Secret), writing into the project's extract volume that every member's
server mounts read-only at ``~/data``. It asks the control plane for the extract's index::

    GET $SPE_GRANT_URL                      Authorization: Bearer $SPE_GRANT_TOKEN
    → {"files": [{"filename": "care.parquet", "url": "…/extract/files/care", …}, …]}

then each file's ``url`` with the same header, and writes the decrypted Parquet files into
the target directory. File names are taken as plain names (no directories, no ``..``); files
end up 0444 and the directory 0555; the marker file :data:`COMPLETE` is written last, and
servers wait for it before they start (so nobody sees half an extract).

Connection failures and 5xx answers are retried with backoff; any other refusal (expired
or revoked grant, permit no longer active) fails the pod at once, so the server does not
start without its data. Standard library only: the workspace image needs nothing of spe.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ATTEMPTS = 5
TIMEOUT_SECONDS = 60
COMPLETE = ".spe-complete"
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class FetchError(Exception):
    """The extract could not be fetched."""


def _get(url: str, token: str, attempts: int, backoff_seconds: float):
    """The open response for ``url``, retrying what may pass; the caller closes it."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"URL must be http(s), not {url!r}")
    request = urllib.request.Request(  # noqa: S310  (scheme checked above)
        url, headers={"Authorization": f"Bearer {token}"})
    for attempt in range(1, attempts + 1):
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts:
                raise FetchError(f"control plane refused {url}: {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == attempts:
                raise FetchError(f"control plane unreachable: {exc}") from exc
        time.sleep(backoff_seconds * 2 ** (attempt - 1))
    raise FetchError("no attempt made")


def fetch(url: str, token: str, target: Path, *, attempts: int = ATTEMPTS,
          backoff_seconds: float = 1.0) -> int:
    """Write the extract indexed at ``url`` into ``target``; the number of files."""
    with _get(url, token, attempts, backoff_seconds) as response:
        try:
            files = json.load(response)["files"]
        except (ValueError, KeyError, TypeError) as exc:
            raise FetchError("the grant's answer is not an extract index") from exc
    target.mkdir(parents=True, exist_ok=True)
    for entry in files:
        name = str(entry.get("filename", ""))
        if not FILENAME.match(name) or name in (".", ".."):
            raise FetchError(f"refusing file name {name!r}")
        with _get(str(entry["url"]), token, attempts, backoff_seconds) as response, \
                open(target / name, "wb") as out:
            shutil.copyfileobj(response, out)
    (target / COMPLETE).write_text(f"{len(files)}\n")
    return _seal(target)


def _seal(target: Path) -> int:
    """Make everything under ``target`` read-only; the number of files."""
    files = 0
    for root, dirs, names in os.walk(target, topdown=False):
        for name in names:
            (Path(root) / name).chmod(0o444)
            files += name != COMPLETE
        for name in dirs:
            (Path(root) / name).chmod(0o555)
    target.chmod(0o555)
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: fetch_extract.py TARGET_DIR", file=sys.stderr)
        return 2
    try:
        url, token = os.environ["SPE_GRANT_URL"], os.environ["SPE_GRANT_TOKEN"]
        count = fetch(url, token, Path(args[0]))
    except KeyError as exc:
        print(f"fetch-extract: {exc.args[0]} is not set", file=sys.stderr)
        return 2
    except (FetchError, OSError) as exc:
        print(f"fetch-extract: {exc}", file=sys.stderr)
        return 1
    print(f"fetch-extract: {count} files in {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
