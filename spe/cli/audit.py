"""``spe audit …``: verify the log offline, sign a checkpoint, purge past retention, export.

``verify`` needs only the database (read access) or an export file, and the public key.
``signer`` is the checkpoint signer, the one process holding the audit signing key;
``checkpoint`` and ``export`` sign too, so they run where that key is (the signer's pod).
``purge`` uses the privileged connection (``SPE_DATABASE_ADMIN_URL``), the only one allowed
to delete bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from spe.cli.output import err, out
from spe.errors import SpeError

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _settings():
    from spe.settings import get_settings

    return get_settings()


def _config():
    from spe.audit.config import AuditConfig

    return AuditConfig.from_settings(_settings())


class Verifier(StrEnum):
    auto = "auto"
    compiled = "compiled"
    python = "python"


COMPILED = {Verifier.auto: None, Verifier.compiled: True, Verifier.python: False}


def _fail(exc: SpeError) -> None:
    err.print(f"[bold red]error[/] {exc.message}", highlight=False)
    raise typer.Exit(1) from exc


@app.command("verify")
def verify(
    public_key: Annotated[Path | None, typer.Option(
        help="PEM of the checkpoint signing key (default: the public half of the configured "
             "key, SPE_AUDIT_SIGNING_KEY_PATH, on the control-plane host).")] = None,
    database: Annotated[str | None, typer.Option(
        help="Database URL to verify (default: the checkpoint signer's, "
             "SPE_AUDIT_SIGNER_DATABASE_URL, else SPE_DATABASE_URL: reading the audit "
             "tables is all it needs).")] = None,
    export: Annotated[Path | None, typer.Option(help="Verify this export file instead.")]
    = None,
    retention_days: Annotated[int, typer.Option(
        help="Bodies younger than this must be present.")] = 366,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Workers verifying the database (default: one per core for large "
                    "logs).")] = None,
    verifier: Annotated[Verifier, typer.Option(
        help="compiled: the C verifier (fast); python: the reference; auto: compiled when "
             "it was built.")] = Verifier.auto,
    trusted_checkpoint: Annotated[list[Path] | None, typer.Option(
        help="A signed checkpoint kept outside the database (JSON, as GET "
             "/api/v1/audit/checkpoints/latest gives it): the log must extend it. "
             "Repeatable.")] = None,
    witness: Annotated[list[str] | None, typer.Option(
        help="A witness holding every checkpoint as it was signed (file:///folder or "
             "s3://bucket/prefix): the log must extend each. Repeatable. Default: "
             "SPE_AUDIT_WITNESS when set.")] = None,
    max_unsigned_age: Annotated[int | None, typer.Option(
        min=1, help="Seconds a leaf may go without a signed checkpoint covering it (default: "
                    "twice SPE_AUDIT_CHECKPOINT_INTERVAL_SECONDS and a minute); older "
                    "unsigned leaves mean deleted checkpoints.")] = None,
    as_of: Annotated[datetime | None, typer.Option(
        help="The time the database was copied, when verifying an old snapshot (for "
             "--max-unsigned-age; default: now).")] = None,
    cosignatures: Annotated[Path | None, typer.Option(
        help="The state folder of an independent cosigner (spe audit cosign): the log must "
             "extend every checkpoint it cosigned. Needs --cosigner-key.")] = None,
    cosigner_key: Annotated[Path | None, typer.Option(
        help="PEM public key of that cosigner.")] = None,
) -> None:
    """Check every leaf, body, subtree hash and signed checkpoint, and that the log extends
    every checkpoint kept outside the database; exit 1 on the first problem, naming its
    sequence number."""
    from sqlmodel import Session

    from spe.audit import native
    from spe.audit.scan import UnsupportedDatabase
    from spe.audit.verify import VerificationError, verify_database, verify_export
    from spe.audit.witness import WitnessError, WitnessUnavailable
    from spe.db import make_engine

    if verifier is Verifier.compiled and not native.available():
        raise typer.BadParameter("the compiled verifier was not built with this install: "
                                 "see setup.py, or use --verifier python",
                                 param_hint="--verifier")

    key = _public_key(public_key)
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    now = datetime.now(UTC) if as_of is None else \
        (as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
    unsigned = timedelta(seconds=max_unsigned_age) if max_unsigned_age else \
        _config().max_unsigned_age
    try:
        witnesses = witness or ([_settings().audit_witness] if _settings().audit_witness
                                else [])
        external = [*_trusted(trusted_checkpoint or []), *_witnessed(witnesses, key),
                    *_cosigned(cosignatures, cosigner_key, key)]
        if export is not None:
            with export.open(encoding="utf-8") as lines:
                report = verify_export(lines, key, cutoff, external)
        else:
            engine = make_engine(database or _settings().audit.signer_database_url)
            with Session(engine) as session:
                report = verify_database(session, key, cutoff, workers=workers,
                                         compiled=COMPILED[verifier], external=external,
                                         max_unsigned_age=unsigned, now=now)
    except WitnessUnavailable as exc:
        err.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    except (VerificationError, WitnessError) as exc:
        err.print(f"[bold red]TAMPERED[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    except (UnsupportedDatabase, *_database_errors()) as exc:
        err.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    out.print(f"[green]OK[/] {report.summary()}", highlight=False)


def _database_errors() -> tuple[type[Exception], ...]:
    """What reading the log can raise besides a verdict: the compiled verifier's OSError,
    the drivers' errors (an edited schema can make the verifier's queries fail)."""
    import sqlite3

    import psycopg
    from sqlalchemy.exc import DBAPIError

    return OSError, sqlite3.Error, psycopg.Error, DBAPIError


def _trusted(paths: list[Path]) -> list[tuple]:
    """Checkpoints an auditor kept: a checkpoint's JSON, or a witnessed document."""
    import json

    from spe.audit.checkpoints import Checkpoint

    out = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cp = Checkpoint.from_json(data.get("checkpoint", data))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise typer.BadParameter(f"cannot read the checkpoint {path}: {exc}",
                                     param_hint="--trusted-checkpoint") from exc
        out.append((cp, f"trusted ({path.name})"))
    return out


def _cosigned(folder: Path | None, pem: Path | None, key) -> list[tuple]:
    from spe.audit.cosign import read
    from spe.crypto.signing import SignatureError, load_public_key

    if folder is None and pem is None:
        return []
    if folder is None or pem is None:
        raise typer.BadParameter("--cosignatures and --cosigner-key go together")
    try:
        cosigner = load_public_key(pem.read_bytes())
    except (OSError, ValueError, SignatureError) as exc:
        raise typer.BadParameter(f"cannot read the cosigner's key {pem}: {exc}") from exc
    found = read(folder, key, cosigner)
    if not found:
        raise typer.BadParameter(f"{folder} holds no cosignature", param_hint="--cosignatures")
    return [(cs.checkpoint, f"cosigned ({cs.cosigner})") for cs in found]


def _witnessed(specs: list[str], key) -> list[tuple]:
    from spe.audit.witness import open_witness, witnessed

    out = []
    for spec in specs:
        try:
            source = open_witness(spec)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--witness") from exc
        found = witnessed(source, key)
        if not found:
            raise typer.BadParameter(f"{source.description} holds no checkpoint",
                                     param_hint="--witness")
        out += [(cp, f"witnessed ({spec})") for cp in found]
    return out


def _public_key(path: Path | None):
    """The key given, else the configured public key file, else the public half of the
    configured signing key (never created here: a missing key file is an error naming
    where a remote auditor gets the key)."""
    from spe.crypto.signing import SignatureError, SigningKey, load_public_key

    if path is not None:
        try:
            return load_public_key(path.read_bytes())
        except (OSError, ValueError, SignatureError) as exc:
            raise typer.BadParameter(f"cannot read the public key {path}: {exc}",
                                     param_hint="--public-key") from exc
    published = _settings().resolved_audit_public_key_path
    if path is None and published.is_file():
        return _public_key(published)
    configured = _settings().resolved_audit_signing_key_path
    if not configured.is_file():
        raise typer.BadParameter(
            f"no signing key at {configured} (SPE_AUDIT_SIGNING_KEY_PATH): not on the "
            "control-plane host? Get the public key from GET /api/v1/audit/public-key "
            "(no credentials; its `pem` field) and pass it here",
            param_hint="--public-key")
    try:
        return SigningKey.load_or_create(configured).public_key
    except (OSError, ValueError, SignatureError) as exc:
        raise typer.BadParameter(f"cannot read the signing key {configured}: {exc}",
                                 param_hint="--public-key") from exc


@app.command("signer")
def signer(parent_pid: Annotated[int | None, typer.Option(
        hidden=True, help="Stop when this process ends (how `spe up` runs the signer).")]
        = None) -> None:
    """Run the checkpoint signer until stopped (SIGTERM, Ctrl-C): the one process holding
    the audit signing key. It signs a checkpoint every SPE_AUDIT_CHECKPOINT_INTERVAL_SECONDS
    (if the log grew) and whenever the API asks for one, after verifying the log. It
    connects with SPE_AUDIT_SIGNER_DATABASE_URL (default SPE_DATABASE_URL)."""
    import signal
    import threading

    from spe.audit.signer import RUNNING, CheckpointSigner
    from spe.dataplane.config import MissingSecret, require_key_files
    from spe.threads import stop_on_signals

    settings = _settings()
    try:
        require_key_files(settings, "signer")
    except MissingSecret as exc:
        _fail(exc)
    stop = threading.Event()
    stop_on_signals(stop, signal.SIGTERM, signal.SIGINT)
    if parent_pid is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for spe up
        _stop_with(parent_pid, stop)
    engine = _signer_engine()
    loop = CheckpointSigner.from_settings(settings, engine)
    err.print(f"{RUNNING}, key {loop.key.key_id}", highlight=False)
    try:
        loop.run_forever(stop)
    finally:
        engine.dispose()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with(parent: int, stop) -> None:
    """Have the kernel send this process SIGTERM (a graceful stop: ``stop`` is set) when
    process ``parent``, which started it, ends, however it ends (PR_SET_PDEATHSIG); stop at
    once if it already has. Where prctl is missing, a thread watches for the re-parenting."""
    import ctypes
    import os
    import signal
    import threading

    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None or prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        def watch() -> None:
            while os.getppid() == parent:
                if stop.wait(1.0):
                    return
            stop.set()

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it ended before the kernel was told
        stop.set()


def _signer_engine():
    """The checkpoint signer's connection (SPE_AUDIT_SIGNER_DATABASE_URL, as its own role,
    default SPE_DATABASE_URL): one session at a time, so a small pool."""
    from spe.db import make_engine

    return make_engine(_settings().audit.signer_database_url, pool_size=2, max_overflow=2)


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the log as it is now (where the signing key is)."""
    from spe.audit.signer import create_checkpoint
    from spe.db import session_scope

    config = _config()
    try:
        with session_scope(_signer_engine()) as session:
            cp = create_checkpoint(session, config.signer(), witness=config.open_witness(),
                                   retention=config.retention)
    except SpeError as exc:
        _fail(exc)
    out.print(f"checkpoint at tree size {cp.tree_size}, root {cp.root_hash.hex()}, "
              f"key {cp.key_id}", highlight=False)


@app.command("purge")
def purge(before: Annotated[datetime | None, typer.Option(
        help="Also keep bodies from this date on (never shortens retention).")] = None) -> None:
    """Delete event bodies past retention; leaves and proofs stay verifiable."""
    from spe.audit import service
    from spe.db import make_engine, session_scope

    config = _config()
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    engine = make_engine(_settings().resolved_admin_database_url)
    with session_scope(engine) as session:
        count = service.purge(session, config.retention, before)
    cutoff = service.purge_cutoff(config.retention, before)
    out.print(f"purged {count} event bodies older than {cutoff:%Y-%m-%d %H:%M} UTC",
              highlight=False)


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the JSON Lines.")],
    start: Annotated[int, typer.Option("--from", help="First sequence number.")] = 0,
    end: Annotated[int | None, typer.Option("--to", help="End (exclusive); default: all.")]
    = None,
) -> None:
    """Export events with the checkpoints and proofs that verify them offline (a checkpoint
    of the current log is signed first)."""
    from sqlmodel import Session

    from spe.audit.export import export_lines
    from spe.audit.signer import create_checkpoint
    from spe.db import session_scope

    engine = _signer_engine()
    config = _config()
    count = 0
    try:
        with session_scope(engine) as session:  # verifies the log before it signs
            create_checkpoint(session, config.signer(), witness=config.open_witness(),
                              retention=config.retention)
        with Session(engine) as session, file.open("w", encoding="utf-8") as sink:
            for count, line in enumerate(export_lines(session, start, end)):  # noqa: B007
                sink.write(line)
    except SpeError as exc:
        _fail(exc)
    out.print(f"exported {count} events to {file}", highlight=False)


@app.command("cosign")
def cosign(
    public_key: Annotated[Path, typer.Option(help="PEM of the log's checkpoint signing key.")],
    witness: Annotated[str, typer.Option(
        help="Where the log's checkpoints are witnessed (file:///folder or "
             "s3://bucket/prefix).")],
    state: Annotated[Path, typer.Option(help="This cosigner's own folder: its cosignatures, "
                                             "and the latest checkpoint it vouched for.")],
    key: Annotated[Path, typer.Option(help="This cosigner's Ed25519 PEM key (created if "
                                           "absent; not the platform's).")],
) -> None:
    """Run by someone independent of the platform, on a schedule: cosign every new witnessed
    checkpoint that extends the latest one cosigned before; exit 1 on one that does not."""
    from spe.audit.cosign import cosign as run
    from spe.audit.witness import WitnessError, open_witness
    from spe.crypto.signing import SignatureError, SigningKey, load_public_key

    try:
        log_key = load_public_key(public_key.read_bytes())
    except (OSError, ValueError, SignatureError) as exc:
        raise typer.BadParameter(f"cannot read the public key {public_key}: {exc}") from exc
    try:
        done = run(open_witness(witness), state, log_key, SigningKey.load_or_create(key))
    except WitnessError as exc:
        err.print(f"[bold red]REFUSED[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    last = f", up to size {done[-1].checkpoint.tree_size}" if done else ""
    out.print(f"cosigned {len(done)} checkpoints{last}", highlight=False)
