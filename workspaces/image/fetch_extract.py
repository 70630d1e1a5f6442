"""Init container of a workspace server: fetch the project's extract into a directory.

Runs before the notebook container starts, in the same pod, with the only copy of the
project's short-lived grant (environment ``SPE_GRANT_URL`` and ``SPE_GRANT_TOKEN``, from the
``extract-grant`` Secret). It asks the control plane for the extract::

    GET $SPE_GRANT_URL
    Authorization: Bearer $SPE_GRANT_TOKEN
    Accept: application/x-tar

and unpacks the answer (a tar stream of the decrypted extract files) into the target
directory, an emptyDir the notebook container mounts read-only at ``~/data``. Members are
unpacked with tarfile's ``data`` filter: no absolute paths, nothing outside the target, no
links out, no devices. Files end up 0444 and directories 0555.

Connection failures and 5xx answers are retried with backoff; any other refusal (expired
or revoked grant) fails the pod at once, so the server does not start without its data.
Standard library only: the workspace image needs nothing of spe.
"""

from __future__ import annotations

import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ATTEMPTS = 5
TIMEOUT_SECONDS = 60


class FetchError(Exception):
    """The extract could not be fetched."""


def fetch(url: str, token: str, target: Path, *, attempts: int = ATTEMPTS,
          backoff_seconds: float = 1.0) -> int:
    """Unpack the extract at ``url`` into ``target``; the number of files."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"grant URL must be http(s), not {url!r}")
    request = urllib.request.Request(url, headers={  # noqa: S310  (scheme checked above)
        "Authorization": f"Bearer {token}", "Accept": "application/x-tar"})
    for attempt in range(1, attempts + 1):
        try:
            with (urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response,  # noqa: S310
                  tarfile.open(fileobj=response, mode="r|*") as archive):
                archive.extractall(target, filter="data")
            break
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts:
                raise FetchError(f"control plane refused the extract: {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == attempts:
                raise FetchError(f"control plane unreachable: {exc}") from exc
        time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return _seal(target)


def _seal(target: Path) -> int:
    """Make everything under ``target`` read-only; the number of files."""
    files = 0
    for root, dirs, names in os.walk(target, topdown=False):
        for name in names:
            (Path(root) / name).chmod(0o444)
            files += 1
        for name in dirs:
            (Path(root) / name).chmod(0o555)
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
    except (FetchError, tarfile.TarError) as exc:
        print(f"fetch-extract: {exc}", file=sys.stderr)
        return 1
    print(f"fetch-extract: {count} files in {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
