"""Test-wide fixtures, registered as plugins: one module per server in ``tests/servers/``
(PostgreSQL, Ceph RGW, the OpenID provider, …; each starts its server once per run, only
when a test asks for it, and always stops it) and shared fixtures in ``tests/fixtures/``."""

from pathlib import Path

HERE = Path(__file__).parent

pytest_plugins = sorted(
    f"tests.{folder}.{p.stem}"
    for folder in ("servers", "fixtures")
    for p in (HERE / folder).glob("*.py")
    if not p.stem.startswith("_")
)
