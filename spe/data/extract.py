"""Prepare a project's extract: minimise, pseudonymise, encrypt, store, sign.

Per source file, streamed by row groups (Parquet) or blocks (CSV), so memory is bounded by
a few batches, one shuffle bucket and the upload pipe whatever the file's size:

    read only the permitted variables → shuffle the rows (:mod:`spe.data.shuffle`)
    → pseudonymise the direct identifiers among them
    → write Parquet (zstd) into the encrypting writer → ciphertext streamed into the store

The shuffle gives each table an order fixed by a per-extract key and unrelated to the
source's, so a source sorted by NIR does not give each person's rank to the extract.

Four stages run at once, each in its own thread (:mod:`spe.data.streaming`): reading the
source, shuffling (the whole source into sealed buckets, then a bucket at a time out),
pseudonymising the batch before, writing and encrypting the one before that, while the store
hashes and writes (or uploads) the ciphertext. Nothing readable is ever stored, nor written
to disk: the shuffle's buckets are sealed under a key held only in memory, the plaintext
Parquet exists only a chunk at a time in memory, and the store
receives ciphertext, committed only once the file is whole (a failed extract aborts its
upload). Every source is opened (and, from a backend without seekable streams, spooled to a
temporary file) before the first is processed, so that progress knows the total rows.

Crash safety: objects go under the extract prefix, the signed manifest last (see
:mod:`spe.data.manifest`). After each file a progress record (``_progress/<name>.json``: the
file's manifest entry and what it was made from) is stored, signed with the manifest's key
(``_progress/<name>.json.sig``), since its entry is signed into the manifest on resume.
Re-running the same extract resumes: a file is kept only when its record's signature
verifies, the record was made for this prefix and matches the source's ETag, the
variables, the permit and the key, names the expected object, and that object, hashed
again, is the ciphertext recorded; any other is redone. So someone who can write to the
bucket but holds no key cannot make the control plane sign an object of their choosing
(an older ciphertext of the project, say, from before an amendment removed a variable).
A finished extract (its manifest exists and verifies for this prefix, permit and key) is
never rewritten: re-running returns its manifest; one that does not verify is rebuilt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SignatureError, SigningKey, verify
from spe.data import decimal
from spe.data import manifest as manifests
from spe.data.encryption import CIPHER, DEFAULT_CHUNK_SIZE, EncryptingWriter
from spe.data.pseudonymise import METHOD, Pseudonymiser
from spe.data.shuffle import bucket_count, shuffle_key, shuffled
from spe.data.streaming import upload
from spe.keys.base import DataKey
from spe.messages import Message
from spe.storage.base import ObjectInfo, ObjectNotFound, ObjectStore
from spe.storage.layout import component
from spe.threads import read_ahead

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
"""``(done_rows, total_rows)``; ``total_rows`` is None while a CSV source makes it unknown."""

PROGRESS_DIR = "_progress/"
PROGRESS_FORMAT = "spe-extract-progress/v1"
FILE_SUFFIX = ".parquet.enc"
PSEUDONYM_METADATA = b"spe.pseudonymisation"
_SPOOL_BUFFER = 1 << 20
_CSV_BYTES_PER_ROW = 64
"""A low guess of a CSV row's size, to size the shuffle's buckets before the rows are known."""
_MAX_BUCKETS = 512
_SMALL_DICTIONARY_BYTES = 256 * 1024
"""Open temporary files of one table's shuffle, at most (each holds rows / buckets rows)."""
# zstd (level 1): as fast as snappy or lz4 here end to end, and a quarter smaller, since it
# entropy-codes the random base32 of the pseudonym dictionaries (less to encrypt and store)
_WRITER_OPTIONS: dict[str, Any] = {"compression": "zstd"}


class ExtractError(Exception):
    """The extract cannot be made as asked."""


class MissingVariables(ExtractError):
    """A permitted variable or a declared identifier is not in the source file."""


@dataclass(frozen=True)
class ExtractSource:
    """One source file and what the permit keeps of it.

    ``direct_identifiers`` are the dataset's direct identifiers (from its catalogue); those
    kept are pseudonymised, the others dropped with every variable not kept. ``name`` is the
    table's name in the extract (default: the dataset's).
    """

    dataset: str
    object_key: str
    variables_kept: tuple[str, ...]
    direct_identifiers: tuple[str, ...] = ()
    name: str | None = None
    format: Literal["parquet", "csv"] | None = None

    @property
    def table_name(self) -> str:
        return component(self.name or self.dataset, "extract table name")

    @property
    def file_format(self) -> str:
        if self.format:
            return self.format
        if self.object_key.endswith(".csv"):
            return "csv"
        return "parquet"

    @property
    def pseudonymised(self) -> tuple[str, ...]:
        return tuple(v for v in self.variables_kept if v in self.direct_identifiers)


@dataclass
class _Progress:
    callback: ProgressCallback | None
    total: int | None
    done: int = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.callback is not None:
            self.callback(self.done, self.total)


@dataclass
class _Opened:
    """A source opened for reading: its object info and a batch iterator factory."""

    source: ExtractSource
    info: ObjectInfo
    rows: int | None
    schema: pa.Schema
    batches: Callable[[], Iterator[pa.RecordBatch]]
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def prepare_extract(store: ObjectStore, sources: Sequence[ExtractSource], *,
                    permit_reference: str, master_secret: bytes, data_key: DataKey,
                    prefix: str, signing_key: SigningKey,
                    progress: ProgressCallback | None = None, batch_rows: int = 1_000_000,
                    chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, Any]:
    """Make the extract under ``prefix`` (``projects/<id>/extracts/<extract>/``) and return
    its manifest (also stored there, signed)."""
    if not prefix.endswith("/"):
        raise ExtractError(Message("the extract prefix must end with '/': {prefix!r}",
                                   prefix=prefix))
    if not sources:
        raise ExtractError(Message("an extract needs at least one source"))
    names = [source.table_name for source in sources]
    if len(set(names)) != len(names):
        raise ExtractError(Message("two sources share a table name: {names}; name them",
                                   names=str(sorted(names))))
    existing = _finished_manifest(store, prefix, permit_reference, data_key, signing_key)
    if existing is not None:
        return existing

    # one per identifier variable, shared by the sources that have it: each remembers the
    # values of its own variable, so a lookup is not slowed by another variable's values
    pseudonymisers = defaultdict(lambda: Pseudonymiser(master_secret, permit_reference))
    opened = [_open(store, source, batch_rows) for source in sources]
    try:
        rows = [o.rows for o in opened]
        tracker = _Progress(progress, None if None in rows else sum(rows))
        files = [_extract_one(store, o, prefix, permit_reference, data_key, pseudonymisers,
                              tracker, chunk_size, signing_key,
                              shuffle_key(master_secret, prefix, o.source.table_name),
                              batch_rows) for o in opened]
    finally:
        for o in opened:
            o.close()

    manifest = {
        "format": manifests.FORMAT,
        "prefix": prefix,
        "permit_reference": permit_reference,
        "created_at": datetime.now(UTC).isoformat(),
        "key_id": data_key.key_id,
        "encryption": {"cipher": CIPHER, "chunk_size": chunk_size},
        "pseudonymisation": {"method": METHOD},
        "signing_key_id": signing_key.key_id,
        "files": files,
    }
    body, signature = manifests.sign(manifest, signing_key)
    store.put_bytes(prefix + manifests.SIGNATURE_NAME, signature.encode("ascii"), "text/plain")
    store.put_bytes(prefix + manifests.MANIFEST_NAME, body, "application/json")
    store.delete_prefix(prefix + PROGRESS_DIR)
    return manifest


def _finished_manifest(store: ObjectStore, prefix: str, permit_reference: str,
                       data_key: DataKey, signing_key: SigningKey) -> dict[str, Any] | None:
    """The manifest of a finished extract under ``prefix``, if one exists and verifies as
    this extract's; one that does not is logged and left to be rebuilt over."""
    try:
        return manifests.load_manifest(store, prefix, signing_key.public_key,
                                       permit_reference=permit_reference,
                                       key_id=data_key.key_id)
    except ObjectNotFound:
        return None
    except (manifests.ManifestError, ValueError) as exc:
        log.warning("the manifest under %s is not this extract's, rebuilding: %s", prefix, exc)
        return None


def _seekable(store: ObjectStore, key: str) -> tuple[BinaryIO, list]:
    """A seekable stream of the object: the store's own, else a spooled temporary copy."""
    stream = store.open(key)
    if stream.seekable():
        return stream, [stream.close]
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller, via closers
    with stream:
        shutil.copyfileobj(stream, spooled, _SPOOL_BUFFER)
    spooled.seek(0)
    return spooled, [spooled.close]


def _check_variables(source: ExtractSource, available: Sequence[str]) -> None:
    missing = sorted(set(source.variables_kept) - set(available))
    if missing:
        raise MissingVariables(Message("{source} has no variable {variables}",
                                       source=source.object_key, variables=", ".join(missing)))
    if not source.variables_kept:
        raise ExtractError(Message("no variable kept from {source}", source=source.object_key))


def _small_dictionaries(parquet: pq.ParquetFile, columns: Sequence[str]) -> list[str]:
    """The text ``columns`` whose every row group is stored with a small dictionary page (a
    code list; not one that grew past it and fell back to plain values)."""
    metadata = parquet.metadata
    index = {metadata.schema.column(j).path: j for j in range(metadata.num_columns)}
    small = []
    for name in columns:
        field = parquet.schema_arrow.field(name)
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)) \
                or name not in index:
            continue
        chunks = [metadata.row_group(g).column(index[name])
                  for g in range(metadata.num_row_groups)]
        if chunks and all(c.has_dictionary_page and c.dictionary_page_offset is not None
                          and c.data_page_offset - c.dictionary_page_offset
                          < _SMALL_DICTIONARY_BYTES for c in chunks):
            small.append(name)
    return small


def _open(store: ObjectStore, source: ExtractSource, batch_rows: int) -> _Opened:
    info = store.stat(source.object_key)
    kept = list(source.variables_kept)
    if source.file_format == "parquet":
        stream, closers = _seekable(store, source.object_key)
        # identifiers read as plain strings: the pseudonymiser probes each row against its
        # own dictionary, which a per-row-group dictionary from the reader would only delay;
        # other text stored with a small dictionary is read as it is stored, encoded (the
        # shuffle moves it so, then decodes it: the extract's columns keep their types)
        parquet = pq.ParquetFile(stream)
        schema = parquet.schema_arrow
        _check_variables(source, schema.names)
        encoded = _small_dictionaries(parquet, [v for v in kept
                                                if v not in source.direct_identifiers])
        if encoded:
            parquet = pq.ParquetFile(stream, read_dictionary=encoded)
        return _Opened(
            source, info, parquet.metadata.num_rows, pa.schema([schema.field(v) for v in kept]),
            lambda: (batch.select(kept) for batch in
                     parquet.iter_batches(batch_size=batch_rows, columns=kept)),
            closers)
    stream = store.open(source.object_key)
    try:
        reader = pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(block_size=64 * batch_rows),
            convert_options=pacsv.ConvertOptions(
                # identifiers as text: a NIR read as an integer would lose its zeros
                column_types={v: pa.string() for v in source.direct_identifiers}))
        _check_variables(source, reader.schema.names)
    except BaseException:
        stream.close()
        raise
    return _Opened(source, info, None, pa.schema([reader.schema.field(v) for v in kept]),
                   lambda: (batch.select(kept) for batch in reader), [stream.close])


def _output_schema(opened: _Opened) -> pa.Schema:
    fields = []
    for item in opened.schema:
        if item.name in opened.source.pseudonymised:
            item = pa.field(item.name, pa.dictionary(pa.int32(), pa.string()), nullable=True,
                            metadata={PSEUDONYM_METADATA: METHOD.encode()})
        fields.append(item)
    return pa.schema(fields)


class _HashingWriter:
    """Counts and hashes what passes through to ``raw``."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)


def _with_statistics(schema: pa.Schema) -> list[str]:
    """The columns worth min/max statistics: not strings. Those of a row group of unsorted
    strings (codes, pseudonyms) span nearly the whole range, so they prune nothing, and
    they cost a pass over every string."""
    return [item.name for item in schema
            if not (pa.types.is_string(item.type) or pa.types.is_dictionary(item.type))]


def _pseudonymised(batches: Iterator[pa.RecordBatch], schema: pa.Schema,
                   identifiers: Sequence[str], pseudonymisers: dict[str, Pseudonymiser],
                   ) -> Iterator[pa.RecordBatch]:
    """The batches with their identifiers pseudonymised, as ``schema`` says, except that a
    text column the shuffle hands over dictionary-encoded stays so (see :func:`_write`)."""
    with closing(batches):  # stops the read-ahead thread before, whatever happens here
        for batch in batches:
            arrays, fields = [], []
            for item, column in zip(schema, batch.columns, strict=True):
                if item.name in identifiers:
                    digits = (batch.schema.field(item.name).metadata or {}).get(decimal.WIDTH)
                    column = pseudonymisers[item.name].array(
                        column, as_dictionary=True, digits=digits and int(digits))
                elif column.type != item.type:
                    item = item.with_type(column.type)
                arrays.append(column)
                fields.append(item)
            yield pa.record_batch(arrays, schema=pa.schema(fields))


def _write(batches: Iterator[pa.RecordBatch], schema: pa.Schema, sink: BinaryIO,
           tracker: _Progress) -> int:
    """Write ``batches`` as Parquet into ``sink``; the number of rows.

    A text column may come dictionary-encoded (a code list, as the shuffle moves it): the
    writer then stores that dictionary as the row group's, instead of hashing every row into
    a dictionary of its own, and the file's Arrow schema is ``schema`` all the same, so
    that it reads back with the source's types."""
    rows, parquet = 0, None
    with closing(batches):
        try:
            for batch in batches:
                if parquet is None:
                    parquet = _parquet_writer(sink, batch.schema)
                parquet.write_batch(batch)
                rows += batch.num_rows
                tracker.advance(batch.num_rows)
            if parquet is None:
                parquet = _parquet_writer(sink, schema)
            parquet.add_key_value_metadata(
                {b"ARROW:schema": base64.b64encode(schema.serialize().to_pybytes())})
        finally:
            if parquet is not None:
                parquet.close()
    return rows


def _parquet_writer(sink: BinaryIO, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(sink, schema, **_WRITER_OPTIONS,
                            write_statistics=_with_statistics(schema))


def _fingerprint(opened: _Opened, permit_reference: str, data_key: DataKey) -> dict:
    return {"object_key": opened.source.object_key, "etag": opened.info.etag,
            "version_id": opened.info.version_id, "variables": list(opened.source.variables_kept),
            "pseudonymised": list(opened.source.pseudonymised), "method": METHOD,
            "permit_reference": permit_reference, "key_id": data_key.key_id}


class _Refused(Exception):
    """A progress record not to resume from (the reason is logged; the file is redone)."""


def _resumable(store: ObjectStore, progress_key: str, expected: dict,
               signing_key: SigningKey) -> dict | None:
    """The manifest entry of a file an interrupted run already stored, if its progress
    record is authentic and still valid (see the module's docstring)."""
    try:
        body = store.get_bytes(progress_key)
    except ObjectNotFound:
        return None
    try:
        try:
            signature = store.get_bytes(progress_key + ".sig").decode("ascii")
            verify(signing_key.public_key, body, signature)
        except (ObjectNotFound, UnicodeDecodeError, SignatureError) as exc:
            raise _Refused("its signature is missing or does not verify") from exc
        record = json.loads(body)
        entry = record["entry"]
        for field in ("format", "prefix", "fingerprint"):
            if record[field] != expected[field]:
                raise _Refused(f"it was made for another {field}")
        for field in ("name", "object_key", "key_id"):
            if entry[field] != expected["entry"][field]:
                raise _Refused(f"its entry names another {field}: {entry[field]!r}")
        _check_stored(store, entry)
    except _Refused as refused:
        log.warning("progress record %s refused, the file is redone: %s", progress_key, refused)
        return None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("progress record %s unreadable, the file is redone: %s", progress_key, exc)
        return None
    return entry


def _check_stored(store: ObjectStore, entry: dict) -> None:
    """Hash the stored ciphertext again: it must be the one the record names."""
    digest, size = hashlib.sha256(), 0
    try:
        with store.open(entry["object_key"]) as stream:
            while block := stream.read(_SPOOL_BUFFER):
                digest.update(block)
                size += len(block)
    except ObjectNotFound as exc:
        raise _Refused(f"{entry['object_key']} is gone") from exc
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise _Refused(f"{entry['object_key']} is not the ciphertext it recorded")


def _extract_one(store: ObjectStore, opened: _Opened, prefix: str, permit_reference: str,
                 data_key: DataKey, pseudonymisers: dict[str, Pseudonymiser], tracker: _Progress,
                 chunk_size: int, signing_key: SigningKey, order_key: bytes,
                 batch_rows: int) -> dict[str, Any]:
    source = opened.source
    progress_key = f"{prefix}{PROGRESS_DIR}{source.table_name}.json"
    object_key = f"{prefix}{source.table_name}{FILE_SUFFIX}"
    fingerprint = _fingerprint(opened, permit_reference, data_key)
    entry = _resumable(store, progress_key, {
        "format": PROGRESS_FORMAT, "prefix": prefix, "fingerprint": fingerprint,
        "entry": {"name": source.table_name, "object_key": object_key,
                  "key_id": data_key.key_id}}, signing_key)
    if entry is not None:
        tracker.advance(entry["rows"])
        return entry

    schema = _output_schema(opened)
    # four stages, each in its own thread: read the source; shuffle (all of it into the
    # buckets, then a bucket at a time out); pseudonymise the batch before; write + encrypt
    # the one before that (and the store hashes and writes the ciphertext beside them)
    expected_rows = opened.rows if opened.rows is not None \
        else opened.info.size // _CSV_BYTES_PER_ROW
    in_order = shuffled(read_ahead(opened.batches(), "extract-read"), opened.schema,
                        order_key, min(bucket_count(expected_rows, batch_rows), _MAX_BUCKETS),
                        batch_rows, encoded_ok=source.variables_kept,
                        integers_ok=source.pseudonymised)
    batches = read_ahead(_pseudonymised(read_ahead(in_order, "extract-shuffle"),
                                        schema, source.pseudonymised, pseudonymisers),
                         "extract-pseudonymise")
    with closing(batches), upload(store, object_key) as target:
        hashing = _HashingWriter(target)
        sealer = EncryptingWriter(hashing, data_key.plaintext, data_key.key_id, chunk_size)
        rows = _write(batches, schema, sealer, tracker)
        sealer.close()
    entry = {
        "name": source.table_name,
        "dataset": source.dataset,
        "object_key": object_key,
        "size": hashing.size,
        "sha256": hashing.sha256.hexdigest(),
        "key_id": data_key.key_id,
        "rows": rows,
        "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
        "variables_kept": list(source.variables_kept),
        "pseudonymised": list(source.pseudonymised),
        "pseudonymisation_method": METHOD,
        "source": {"object_key": source.object_key, "etag": opened.info.etag,
                   "version_id": opened.info.version_id, "size": opened.info.size},
    }
    body = canonical_json({"format": PROGRESS_FORMAT, "prefix": prefix,
                           "fingerprint": fingerprint, "entry": entry})
    store.put_bytes(progress_key + ".sig", signing_key.sign(body).encode("ascii"), "text/plain")
    store.put_bytes(progress_key, body, "application/json")
    return entry
