"""The state file of a local hub: what a later process needs to find and adopt it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ports:
    public: int  # the proxy's public port: the workspace URL
    hub: int  # the hub's own API
    proxy_api: int  # configurable-http-proxy's REST API


@dataclass(frozen=True)
class HubState:
    ports: Ports
    config_hash: str
    pid: int | None = None  # hub process, leader of its own process group; None when suspended
    suspended: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.public}/"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.hub}/hub/api"


def load(path: Path) -> HubState | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return HubState(ports=Ports(**raw["ports"]), config_hash=raw["config_hash"],
                    pid=raw["pid"], suspended=raw["suspended"])


def save(path: Path, state: HubState) -> None:
    """Write atomically, so a crash never leaves half a state file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    os.replace(tmp, path)
