"""Test-wide fixtures. Servers (PostgreSQL, Ceph RGW, the OpenID provider, …) live one per
module in ``tests/servers/`` and are registered here as plugins: each starts its server once
per run, only when a test asks for it, and always stops it."""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.servers.{p.stem}"
    for p in (Path(__file__).parent / "servers").glob("*.py")
    if not p.stem.startswith("_")
)
