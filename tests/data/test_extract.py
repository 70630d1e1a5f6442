"""prepare_extract end to end on a LocalObjectStore, read back with the workspace's reader."""

from __future__ import annotations

import io
import json
import stat
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from spe.data import synth
from spe.data.encryption import TamperedError, WrongKeyError, decrypt_stream
from spe.data.extract import ExtractError, ExtractSource, MissingVariables, prepare_extract
from spe.data.manifest import ManifestError, load_manifest, sign
from spe.data.pseudonymise import METHOD, Pseudonymiser
from spe.data.reader import materialise, read_extract
from spe.storage.base import StorageError
from spe.storage.layout import extract_prefix
from spe.storage.local import LocalObjectStore
from tests.data.conftest import CARE_ROWS, MASTER_SECRET, put_parquet

PREFIX = extract_prefix("p-1", "e-1")
PERMIT = "PERMIT-2024-001"
KEPT = ("nir", "care_date", "icd10", "cost_eur", "provider_department")
IDENTIFIERS = ("nir", "prescriber_id")


def care(key: str, kept=KEPT, **kwargs) -> ExtractSource:
    return ExtractSource("snds-care", key, kept, IDENTIFIERS, **kwargs)


def prepare(store, sources, data_key, signing_key, permit="PERMIT-2024-001", prefix=PREFIX,
            **kwargs):
    return prepare_extract(store, sources, permit_reference=permit, master_secret=MASTER_SECRET,
                           data_key=data_key, prefix=prefix, signing_key=signing_key, **kwargs)


def expected(table: pa.Table, kept, permit="PERMIT-2024-001") -> pa.Table:
    """The minimised, pseudonymised table, computed naively, value by value."""
    pseudonymiser = Pseudonymiser(MASTER_SECRET, permit)
    columns = {}
    for name in kept:
        column = table.column(name)
        if name in IDENTIFIERS:
            column = pa.array([None if v is None else pseudonymiser.pseudonym(v)
                               for v in column.to_pylist()], pa.string())
        columns[name] = column
    return pa.table(columns)


def sorted_rows(table: pa.Table) -> pa.Table:
    """The table's rows in one order, to compare tables as sets of rows."""
    return table.sort_by([(name, "ascending") for name in table.column_names])


def test_the_reader_gets_exactly_the_minimised_pseudonymised_data(
        store, care_source, care_table, data_key, signing_key):
    manifest = prepare(store, [care(care_source)], data_key, signing_key, batch_rows=3_000)

    tables = read_extract(store, PREFIX, data_key, signing_key.public_key, permit_reference=PERMIT)

    assert list(tables) == ["snds-care"]
    assert sorted_rows(tables["snds-care"].cast(expected(care_table, KEPT).schema)).equals(
        sorted_rows(expected(care_table, KEPT)))  # the same rows, shuffled
    [entry] = manifest["files"]
    assert entry["rows"] == CARE_ROWS
    assert entry["variables_kept"] == list(KEPT)
    assert entry["pseudonymised"] == ["nir"]
    assert entry["pseudonymisation_method"] == METHOD
    assert entry["key_id"] == manifest["key_id"] == data_key.key_id
    assert entry["source"]["etag"] == store.stat(care_source).etag
    assert entry["object_key"] == f"{PREFIX}snds-care.parquet.enc"
    assert [c["name"] for c in entry["columns"]] == list(KEPT)
    field = tables["snds-care"].schema.field("nir")
    assert field.metadata == {b"spe.pseudonymisation": METHOD.encode()}


def test_no_identifier_value_in_any_stored_or_decrypted_byte(
        store, care_source, care_table, data_key, signing_key):
    raw_ids = {value.encode() for name in IDENTIFIERS
               for value in pc.unique(care_table.column(name)).to_pylist()}
    source_bytes = store.get_bytes(care_source)
    assert any(value in source_bytes for value in raw_ids)  # the scan can see them

    prepare(store, [care(care_source, kept=(*KEPT, "prescriber_id"))], data_key, signing_key)

    stored = [store.get_bytes(info.key) for info in store.list(PREFIX)]
    ciphertext = store.get_bytes(f"{PREFIX}snds-care.parquet.enc")
    plaintext = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), plaintext, data_key.plaintext)
    for blob in [*stored, plaintext.getvalue()]:
        assert not [value for value in raw_ids if value in blob]
    decrypted = pq.read_table(io.BytesIO(plaintext.getvalue()))
    values = {v.encode() for name in decrypted.column_names
              for v in decrypted.column(name).cast(pa.string()).to_pylist() if v}
    assert not values & raw_ids


def test_pseudonyms_link_datasets_within_a_permit_and_not_across_permits(
        store, care_source, data_key, signing_key):
    people = "sources/snds-beneficiaries/all.parquet"
    put_parquet(store, people, synth.beneficiaries(CARE_ROWS // 20, seed=7))
    both = [care(care_source),
            ExtractSource("snds-beneficiaries", people, ("nir", "sex"), ("nir",))]

    prepare(store, both, data_key, signing_key)
    first = read_extract(store, PREFIX, data_key, signing_key.public_key, permit_reference=PERMIT)
    other_prefix = extract_prefix("p-1", "e-2")
    prepare(store, both, data_key, signing_key, permit="PERMIT-2024-002", prefix=other_prefix)
    second = read_extract(store, other_prefix, data_key, signing_key.public_key,
                          permit_reference="PERMIT-2024-002")

    care_ids = set(first["snds-care"].column("nir").to_pylist())
    people_ids = set(first["snds-beneficiaries"].column("nir").to_pylist())
    assert care_ids <= people_ids  # every care row joins its beneficiary
    assert not care_ids & set(second["snds-care"].column("nir").to_pylist())


def test_progress_is_reported_and_a_crash_leaves_no_manifest_then_a_rerun_resumes(
        store, care_source, care_table, data_key, signing_key):
    people = "sources/snds-beneficiaries/all.parquet"
    put_parquet(store, people, synth.beneficiaries(1_000, seed=7), row_group_size=100)
    sources = [care(care_source),
               ExtractSource("snds-beneficiaries", people, ("nir", "sex"), ("nir",))]
    seen = []

    def crash_in_second_file(done, total):
        seen.append((done, total))
        if done > CARE_ROWS:
            raise RuntimeError("control plane killed")

    with pytest.raises(RuntimeError, match="killed"):
        prepare(store, sources, data_key, signing_key, batch_rows=4_000,
                progress=crash_in_second_file)

    assert {total for _done, total in seen} == {CARE_ROWS + 1_000}
    assert [done for done, _total in seen] == sorted({done for done, _total in seen})
    assert seen[-1][0] > CARE_ROWS and len(seen) > 5
    keys = [info.key for info in store.list(PREFIX)]
    assert f"{PREFIX}manifest.json" not in keys
    assert f"{PREFIX}snds-beneficiaries.parquet.enc" not in keys
    first_file = store.stat(f"{PREFIX}snds-care.parquet.enc")

    progress = []
    manifest = prepare(store, sources, data_key, signing_key,
                       progress=lambda done, total: progress.append((done, total)))

    assert store.stat(f"{PREFIX}snds-care.parquet.enc").etag == first_file.etag  # kept
    assert progress[0] == (CARE_ROWS, CARE_ROWS + 1_000)
    assert progress[-1] == (CARE_ROWS + 1_000, CARE_ROWS + 1_000)
    assert [info.key.removeprefix(PREFIX) for info in store.list(PREFIX)] == [
        "manifest.json", "manifest.json.sig", "snds-beneficiaries.parquet.enc",
        "snds-care.parquet.enc"]
    tables = read_extract(store, PREFIX, data_key, signing_key.public_key, permit_reference=PERMIT)
    assert tables["snds-care"].num_rows == CARE_ROWS
    assert [f["rows"] for f in manifest["files"]] == [CARE_ROWS, 1_000]


def test_a_changed_source_is_redone_on_resume(store, care_source, care_table, data_key,
                                              signing_key):
    people = "sources/snds-beneficiaries/all.parquet"
    put_parquet(store, people, synth.beneficiaries(1_000, seed=7))
    sources = [care(care_source),
               ExtractSource("snds-beneficiaries", people, ("nir",), ("nir",))]

    def crash_in_second_file(done, total):
        if done > CARE_ROWS:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        prepare(store, sources, data_key, signing_key, progress=crash_in_second_file)
    stored = store.stat(f"{PREFIX}snds-care.parquet.enc")
    put_parquet(store, care_source, care_table.slice(0, 100))

    manifest = prepare(store, sources, data_key, signing_key)

    assert store.stat(f"{PREFIX}snds-care.parquet.enc").etag != stored.etag
    assert [f["rows"] for f in manifest["files"]] == [100, 1_000]


def test_a_finished_extract_is_returned_not_rewritten(store, care_source, data_key,
                                                      signing_key):
    first = prepare(store, [care(care_source)], data_key, signing_key)
    etag = store.stat(f"{PREFIX}snds-care.parquet.enc").etag

    assert prepare(store, [care(care_source)], data_key, signing_key) == first
    assert store.stat(f"{PREFIX}snds-care.parquet.enc").etag == etag


def test_a_csv_source_keeps_identifiers_as_text(store, tmp_path, care_table, data_key,
                                                signing_key):
    path = tmp_path / "care.csv"
    synth.write("care", path, 3_000, seed=7, fmt="csv")
    store.put_bytes("sources/snds-care/2023.csv", path.read_bytes())
    totals = set()

    prepare(store, [care("sources/snds-care/2023.csv", kept=("nir", "icd10"))], data_key,
            signing_key, batch_rows=1_000, progress=lambda done, total: totals.add(total))

    table = read_extract(store, PREFIX, data_key, signing_key.public_key,
                         permit_reference=PERMIT)["snds-care"]
    source = pa.Table.from_batches(list(synth.care(3_000, seed=7)))
    want = expected(source, ("nir", "icd10"))
    assert sorted_rows(table.cast(want.schema)).equals(sorted_rows(want))
    assert totals == {None}


def test_materialise_writes_read_only_parquet(store, care_source, data_key, signing_key,
                                              tmp_path):
    prepare(store, [care(care_source)], data_key, signing_key)

    paths = materialise(store, PREFIX, data_key, signing_key.public_key, tmp_path / "data",
                        permit_reference=PERMIT)

    assert paths == {"snds-care": tmp_path / "data" / "snds-care.parquet"}
    assert stat.S_IMODE(paths["snds-care"].stat().st_mode) == 0o444
    assert pq.read_table(paths["snds-care"]).equals(
        read_extract(store, PREFIX, data_key, signing_key.public_key,
                     permit_reference=PERMIT)["snds-care"])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["snds-care.parquet"]


def test_the_reader_refuses_an_altered_manifest_ciphertext_or_another_key(
        store, care_source, keys, data_key, signing_key):
    prepare(store, [care(care_source)], data_key, signing_key)
    manifest = store.get_bytes(f"{PREFIX}manifest.json")
    ciphertext = store.get_bytes(f"{PREFIX}snds-care.parquet.enc")

    with pytest.raises(WrongKeyError, match=data_key.key_id):
        read_extract(store, PREFIX, keys.create_data_key("p-2"), signing_key.public_key,
                     permit_reference=PERMIT)

    store.put_bytes(f"{PREFIX}manifest.json", manifest.replace(b'"rows":20000', b'"rows":1'))
    with pytest.raises(ManifestError, match="does not verify"):
        read_extract(store, PREFIX, data_key, signing_key.public_key, permit_reference=PERMIT)
    store.put_bytes(f"{PREFIX}manifest.json", manifest)

    altered = bytearray(ciphertext)
    altered[-1] ^= 1
    store.put_bytes(f"{PREFIX}snds-care.parquet.enc", bytes(altered))
    with pytest.raises(TamperedError, match="not the file the manifest signed"):
        materialise(store, PREFIX, data_key, signing_key.public_key, store.root / "out",
                    permit_reference=PERMIT)
    assert not (store.root / "out" / "snds-care.parquet").exists()


def test_a_fetcher_can_stand_in_for_the_store(store, care_source, data_key, signing_key):
    prepare(store, [care(care_source)], data_key, signing_key)
    fetched = []

    def fetch(key):
        fetched.append(key)
        return io.BytesIO(store.get_bytes(key))

    tables = read_extract(fetch, PREFIX, data_key, signing_key.public_key, permit_reference=PERMIT)

    assert tables["snds-care"].num_rows == CARE_ROWS
    assert fetched == [f"{PREFIX}manifest.json", f"{PREFIX}manifest.json.sig",
                       f"{PREFIX}snds-care.parquet.enc"]


def test_bad_requests_are_refused_before_anything_is_stored(store, care_source, data_key,
                                                            signing_key):
    with pytest.raises(MissingVariables, match="no variable diagnosis"):
        prepare(store, [care(care_source, kept=("nir", "diagnosis"))], data_key, signing_key)
    with pytest.raises(ExtractError, match="share a table name"):
        prepare(store, [care(care_source), care(care_source)], data_key, signing_key)
    with pytest.raises(ExtractError, match="end with '/'"):
        prepare(store, [care(care_source)], data_key, signing_key, prefix="projects/p-1/x")
    assert list(store.list("projects/")) == []


def test_an_error_while_reading_ahead_reaches_the_caller_and_stores_nothing(
        store, data_key, signing_key):
    threads = threading.active_count()
    rows = "".join(f"{100000 + i},{i}.5\n" for i in range(200))
    store.put_bytes("sources/s/bad.csv", f"nir,cost\n{rows}999,not-a-number\n".encode())

    with pytest.raises(pa.ArrowInvalid, match="not-a-number"):
        prepare(store, [ExtractSource("s", "sources/s/bad.csv", ("nir", "cost"), ("nir",))],
                data_key, signing_key, batch_rows=10)

    assert list(store.list(PREFIX)) == []
    assert threading.active_count() == threads  # the read-ahead thread is gone


@pytest.mark.slow
def test_an_extract_on_s3_is_made_from_a_spooled_source_and_read_back(
        s3_server, care_table, data_key, signing_key):
    store = s3_server.new_store(versioning=True)
    put_parquet(store, "sources/snds-care/2023.parquet", care_table)

    manifest = prepare(store, [care("sources/snds-care/2023.parquet")], data_key, signing_key,
                       batch_rows=7_000)
    tables = read_extract(store, PREFIX, data_key, signing_key.public_key, permit_reference=PERMIT)

    assert sorted_rows(tables["snds-care"].cast(expected(care_table, KEPT).schema)).equals(
        sorted_rows(expected(care_table, KEPT)))
    assert manifest["files"][0]["source"]["version_id"]  # the source version is recorded
    assert list(store.list(f"{PREFIX}_progress/")) == []


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("extract-")]


def test_an_error_while_pseudonymising_reaches_the_caller_and_stores_nothing(
        store, data_key, signing_key):
    table = pa.table({"nir": pa.array([[1, 2], [3]] * 50), "cost": pa.array([1.5] * 100)})
    put_parquet(store, "sources/s/lists.parquet", table, row_group_size=10)

    with pytest.raises(pa.ArrowNotImplementedError, match="list"):
        prepare(store, [ExtractSource("s", "sources/s/lists.parquet", ("nir", "cost"),
                                      ("nir",))], data_key, signing_key, batch_rows=10)

    assert list(store.list(PREFIX)) == []
    assert list((store.root / "tmp").iterdir()) == []
    assert pipeline_threads() == []


class StoreFailingOnExtracts(LocalObjectStore):
    def put(self, key, data, length=-1, content_type="application/octet-stream"):
        if key.endswith(".parquet.enc"):
            data.read(100)
            raise StorageError(f"put {key!r}: connection reset")
        return super().put(key, data, length, content_type)


def test_a_store_failing_during_the_upload_stops_the_extract(tmp_path, care_table, data_key,
                                                              signing_key):
    store = StoreFailingOnExtracts(tmp_path / "failing")
    put_parquet(store, "sources/snds-care/2023.parquet", care_table)

    with pytest.raises(StorageError, match="connection reset"):
        prepare(store, [care("sources/snds-care/2023.parquet")], data_key, signing_key,
                batch_rows=2_000)

    assert list(store.list(PREFIX)) == []
    assert pipeline_threads() == []


def crash_after_first_file(done, total):
    if done > CARE_ROWS:
        raise RuntimeError("stop")


def two_sources(store) -> list[ExtractSource]:
    people = "sources/snds-beneficiaries/all.parquet"
    put_parquet(store, people, synth.beneficiaries(1_000, seed=7))
    return [care("sources/snds-care/2023.parquet"),
            ExtractSource("snds-beneficiaries", people, ("nir",), ("nir",))]


def test_a_planted_progress_record_is_refused_and_the_table_re_extracted(
        store, care_source, data_key, signing_key):
    """Someone who can write to the bucket, holding no key, plants a progress record naming
    an older ciphertext of the project (made before an amendment removed ``cost_eur``)."""
    old_prefix = extract_prefix("p-1", "e-0")
    old = prepare(store, [care(care_source)], data_key, signing_key, prefix=old_prefix)
    [old_entry] = old["files"]
    sources = two_sources(store)
    sources[0] = care(care_source, kept=("nir", "care_date", "icd10"))
    with pytest.raises(RuntimeError):
        prepare(store, sources, data_key, signing_key, progress=crash_after_first_file)
    progress_key = f"{PREFIX}_progress/snds-care.json"
    genuine = json.loads(store.get_bytes(progress_key))
    # every field of the genuine record is public; the entry (and the ETag that the code
    # before signed records compared) are swapped for the older ciphertext's
    store.put_bytes(progress_key, json.dumps({
        **genuine, "entry": old_entry,
        "etag": store.stat(old_entry["object_key"]).etag}).encode())

    manifest = prepare(store, sources, data_key, signing_key)

    care_entry = manifest["files"][0]
    assert care_entry["object_key"] == f"{PREFIX}snds-care.parquet.enc"
    assert [c["name"] for c in care_entry["columns"]] == ["nir", "care_date", "icd10"]
    tables = read_extract(store, PREFIX, data_key, signing_key.public_key,
                          permit_reference=PERMIT)
    assert tables["snds-care"].column_names == ["nir", "care_date", "icd10"]


def test_a_signed_record_whose_ciphertext_was_swapped_is_redone(
        store, care_source, data_key, signing_key):
    """The record is genuine but the object under it was replaced (same key, same size
    order, another content): hashed again on resume, it is refused."""
    old_prefix = extract_prefix("p-1", "e-0")
    prepare(store, [care(care_source)], data_key, signing_key, prefix=old_prefix)
    sources = two_sources(store)
    sources[0] = care(care_source, kept=("nir", "care_date", "icd10"))
    with pytest.raises(RuntimeError):
        prepare(store, sources, data_key, signing_key, progress=crash_after_first_file)
    older = store.get_bytes(f"{old_prefix}snds-care.parquet.enc")
    store.put_bytes(f"{PREFIX}snds-care.parquet.enc", older)

    prepare(store, sources, data_key, signing_key)

    tables = read_extract(store, PREFIX, data_key, signing_key.public_key,
                          permit_reference=PERMIT)
    assert tables["snds-care"].column_names == ["nir", "care_date", "icd10"]


def test_a_genuine_record_of_another_extract_is_refused(store, care_source, data_key,
                                                        signing_key):
    """A record signed for another prefix (copied with its signature) names an object
    outside this extract: refused."""
    sources = two_sources(store)
    other = extract_prefix("p-1", "e-0")
    with pytest.raises(RuntimeError):
        prepare(store, sources, data_key, signing_key, prefix=other,
                progress=crash_after_first_file)
    with pytest.raises(RuntimeError):
        prepare(store, sources, data_key, signing_key, progress=crash_after_first_file)
    for name in ("snds-care.json", "snds-care.json.sig"):
        store.put_bytes(f"{PREFIX}_progress/{name}",
                        store.get_bytes(f"{other}_progress/{name}"))

    manifest = prepare(store, sources, data_key, signing_key)

    assert manifest["files"][0]["object_key"] == f"{PREFIX}snds-care.parquet.enc"


def test_a_manifest_loaded_for_another_prefix_permit_or_key_is_refused(
        store, care_source, keys, data_key, signing_key):
    prepare(store, [care(care_source)], data_key, signing_key)
    other = extract_prefix("p-2", "e-1")
    for name in ("manifest.json", "manifest.json.sig"):  # a valid extract, copied elsewhere
        store.put_bytes(other + name, store.get_bytes(PREFIX + name))

    assert load_manifest(store, PREFIX, signing_key.public_key, permit_reference=PERMIT,
                         key_id=data_key.key_id)["prefix"] == PREFIX
    with pytest.raises(ManifestError, match="prefix"):
        load_manifest(store, other, signing_key.public_key, permit_reference=PERMIT,
                      key_id=data_key.key_id)
    with pytest.raises(ManifestError, match="permit_reference"):
        load_manifest(store, PREFIX, signing_key.public_key,
                      permit_reference="PERMIT-2024-002", key_id=data_key.key_id)
    with pytest.raises(ManifestError, match="key_id"):
        load_manifest(store, PREFIX, signing_key.public_key, permit_reference=PERMIT,
                      key_id="dk-other")
    with pytest.raises(ManifestError, match="prefix"):
        read_extract(store, other, data_key, signing_key.public_key, permit_reference=PERMIT)


@pytest.mark.parametrize("object_key", [
    f"{extract_prefix('p-2', 'e-1')}snds-care.parquet.enc",
    f"{PREFIX}../e-0/snds-care.parquet.enc",
    f"{PREFIX}_progress/snds-care.json",
    "sources/snds-care/2023.parquet"])
def test_a_signed_manifest_naming_an_object_outside_its_prefix_is_refused(
        store, care_source, data_key, signing_key, object_key):
    manifest = prepare(store, [care(care_source)], data_key, signing_key)
    manifest["files"][0]["object_key"] = object_key
    body, signature = sign(manifest, signing_key)  # as if the control plane signed it
    store.put_bytes(PREFIX + "manifest.json", body)
    store.put_bytes(PREFIX + "manifest.json.sig", signature.encode())

    with pytest.raises(ManifestError, match="outside its extract"):
        load_manifest(store, PREFIX, signing_key.public_key, permit_reference=PERMIT,
                      key_id=data_key.key_id)


def test_a_planted_finished_manifest_is_not_returned_but_rebuilt(store, care_source,
                                                                 data_key, signing_key):
    store.put_bytes(PREFIX + "manifest.json", b'{"format": "spe-extract/v1", "files": []}')
    store.put_bytes(PREFIX + "manifest.json.sig", b"AAAA")

    manifest = prepare(store, [care(care_source)], data_key, signing_key)

    assert manifest["files"][0]["rows"] == CARE_ROWS
    assert load_manifest(store, PREFIX, signing_key.public_key, permit_reference=PERMIT,
                         key_id=data_key.key_id) == manifest


def spearman(a, b) -> float:
    ranks = [np.argsort(np.argsort(np.asarray(x))) for x in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


@pytest.mark.parametrize("batch_rows", [100_000, 1_500])  # one bucket, then 14 buckets
def test_rows_are_shuffled_not_in_the_sources_nir_order(store, care_table, data_key,
                                                        signing_key, batch_rows):
    """A source sorted by NIR: the extract's order must not give each person's rank (nor
    any order of the source), and the same extract made again has the same order."""
    by_nir = care_table.sort_by([("nir", "ascending")]).append_column(
        "row", pa.array(np.arange(CARE_ROWS)))
    put_parquet(store, "sources/snds-care/sorted.parquet", by_nir, row_group_size=1_000)
    source = care("sources/snds-care/sorted.parquet", kept=("row", "nir", "icd10"))

    prepare(store, [source], data_key, signing_key, batch_rows=batch_rows)
    first = read_extract(store, PREFIX, data_key, signing_key.public_key,
                         permit_reference=PERMIT)["snds-care"]
    rows = first.column("row").to_numpy()

    assert sorted(rows) == list(range(CARE_ROWS))  # every row, once
    assert abs(spearman(rows, np.arange(CARE_ROWS))) < 0.05  # no trace of the source order
    assert (rows == np.arange(CARE_ROWS)).mean() < 0.01
    pseudonyms = first.column("nir").cast(pa.string()).to_pylist()
    assert pseudonyms != sorted(pseudonyms)

    store.delete_prefix(PREFIX)  # the same extract, made again: the same order
    prepare(store, [source], data_key, signing_key, batch_rows=batch_rows)
    again = read_extract(store, PREFIX, data_key, signing_key.public_key,
                         permit_reference=PERMIT)["snds-care"]
    assert again.column("row").to_pylist() == rows.tolist()
    other = extract_prefix("p-1", "e-2")  # another extract: another order
    prepare(store, [source], data_key, signing_key, batch_rows=batch_rows, prefix=other)
    elsewhere = read_extract(store, other, data_key, signing_key.public_key,
                             permit_reference=PERMIT)["snds-care"].column("row").to_numpy()
    assert sorted(elsewhere) == list(range(CARE_ROWS))
    assert abs(spearman(rows, elsewhere)) < 0.05



def test_text_stored_with_a_small_dictionary_is_read_encoded_and_extracted_as_text(
        store, care_source, care_table, data_key, signing_key):
    """The reader hands the codes over dictionary-encoded (cheaper to shuffle); the extract's
    columns keep the source's types and values all the same."""
    from spe.data.extract import _small_dictionaries

    parquet = pq.ParquetFile(io.BytesIO(store.get_bytes(care_source)))
    assert set(_small_dictionaries(parquet, ["icd10", "provider_department", "care_date"])) \
        == {"icd10", "provider_department"}
    prepare(store, [care(care_source)], data_key, signing_key, batch_rows=3_000)
    table = read_extract(store, PREFIX, data_key, signing_key.public_key,
                         permit_reference=PERMIT)["snds-care"]
    for name in ("icd10", "provider_department", "care_date", "cost_eur"):
        assert table.schema.field(name).type == care_table.schema.field(name).type, name
    columns = ["icd10", "provider_department", "cost_eur"]
    assert sorted_rows(table.select(columns)).equals(sorted_rows(care_table.select(columns)))


def test_identifiers_that_are_not_all_digits_of_one_width_are_pseudonymised_the_same(
        store, care_table, data_key, signing_key):
    """NIRs move through the shuffle as integers while they are 15 digits; a Corsican NIR
    ('2A'), a short one and nulls, met in later row groups, are pseudonymised as text: every
    row gets the pseudonym of its own value."""
    nirs = care_table.column("nir").to_pylist()
    for row in range(12_000, CARE_ROWS, 997):
        nirs[row] = None if row % 2 else f"2A{row:013d}"
    nirs[15_001] = "1840175"
    table = care_table.set_column(care_table.schema.get_field_index("nir"), "nir",
                                  pa.array(nirs, pa.string()))
    put_parquet(store, "sources/snds-care/odd.parquet", table)
    prepare(store, [care("sources/snds-care/odd.parquet")], data_key, signing_key,
            batch_rows=3_000)
    extracted = read_extract(store, PREFIX, data_key, signing_key.public_key,
                             permit_reference=PERMIT)["snds-care"]
    assert sorted_rows(extracted.cast(expected(table, KEPT).schema)).equals(
        sorted_rows(expected(table, KEPT)))
