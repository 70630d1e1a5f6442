"""Dataset source uploads (spe/data/sources.py), stored on the real S3 server."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minio import Minio

from spe.data.sources import (
    SourceRejected,
    check_schema,
    read_schema,
    register_existing,
    upload_source,
)
from spe.errors import Conflict, InvalidInput

VARIABLES = [
    {"name": "patient_id", "type": "string", "classification": "direct_identifier"},
    {"name": "age", "type": "integer", "classification": "quasi_identifier"},
    {"name": "weight", "type": "number", "classification": "other"},
    {"name": "admitted", "type": "date", "classification": "quasi_identifier"},
    {"name": "deceased", "type": "boolean", "classification": "sensitive"},
]
CSV = (b"patient_id,age,weight,admitted,deceased\n"
       b"1840175123456,42,71.5,2024-01-03,false\n"
       b"2750275654321,67,80,2024-02-11,true\n")


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


TABLE = pa.table({
    "patient_id": ["a", "b", "c"],
    "age": pa.array([1, 2, 3], pa.int32()),
    "weight": [1.5, 2.0, 3.25],
    "admitted": [dt.date(2024, 1, 1)] * 3,
    "deceased": [False, True, False],
})


def _all_versions(server, bucket: str) -> list[str]:
    client = Minio(server.endpoint, server.access_key, server.secret_key,
                   region=server.region, secure=False)
    return [v.object_name for v in client.list_objects(bucket, recursive=True,
                                                       include_version=True)]


def test_read_schema_of_csv_infers_types_from_the_first_block(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(CSV)

    schema = read_schema(path, "csv")

    assert schema.names == [v["name"] for v in VARIABLES]
    assert schema.field("age").type == pa.int64()
    assert schema.field("admitted").type == pa.date32()
    assert read_schema(io.BytesIO(CSV), "csv").names == schema.names


def test_read_schema_of_parquet_reads_the_footer():
    schema = read_schema(io.BytesIO(_parquet(TABLE)), "parquet")
    assert schema.field("age").type == pa.int32()


def test_a_matching_schema_has_no_problems():
    assert check_schema(read_schema(io.BytesIO(CSV), "csv"), VARIABLES) == []
    assert check_schema(read_schema(io.BytesIO(_parquet(TABLE)), "parquet"), VARIABLES) == []


def test_every_difference_is_a_clear_problem():
    csv = b"patient_id,age,age,weight,admitted,extra\nx,1,1,heavy,2024-01-01,9\n"

    problems = check_schema(read_schema(io.BytesIO(csv), "csv"), VARIABLES)

    assert {(p.kind, p.column) for p in problems} == {
        ("duplicate", "age"), ("missing", "deceased"), ("unexpected", "extra"),
        ("type", "weight")}
    messages = {p.kind: p.message for p in problems}
    assert messages["missing"] == ("variable 'deceased' (boolean) is in the catalogue but "
                                   "not in the file")
    assert messages["type"] == "column 'weight' is string in the file but number in the catalogue"


def test_numbers_are_text_in_a_csv_but_not_in_parquet():
    as_text = [{"name": "code", "type": "string"}]
    assert check_schema(read_schema(io.BytesIO(b"code\n75001\n"), "csv"), as_text) == []
    parquet = _parquet(pa.table({"code": [75001]}))
    [problem] = check_schema(read_schema(io.BytesIO(parquet), "parquet"), as_text)
    assert problem.kind == "type"


def test_an_unknown_variable_type_is_refused():
    with pytest.raises(InvalidInput, match="unknown type 'text'"):
        check_schema(pa.schema([]), [{"name": "x", "type": "text"}])


def test_upload_csv_keeps_it_under_the_dataset(s3_store):
    source = upload_source(s3_store, "cohort", "2024.csv", io.BytesIO(CSV), VARIABLES, "csv")

    assert source.key == "sources/cohort/2024.csv"
    assert (source.size, source.rows, source.format) == (len(CSV), 2, "csv")
    assert source.etag == s3_store.stat(source.key).etag
    assert s3_store.get_bytes(source.key) == CSV
    assert [info.key for info in s3_store.list("")] == [source.key]  # no staging left


def test_upload_parquet_reads_rows_from_the_footer(s3_store):
    data = _parquet(TABLE)

    source = upload_source(s3_store, "cohort", "t.parquet", io.BytesIO(data), VARIABLES,
                           "parquet")

    assert (source.rows, source.size) == (3, len(data))
    assert source.schema.field("age").type == pa.int32()
    assert [info.key for info in s3_store.list("")] == ["sources/cohort/t.parquet"]


def test_a_mismatched_schema_is_refused_and_nothing_is_kept(s3_server):
    store = s3_server.new_store(versioning=True)
    bad = CSV.replace(b"deceased", b"died")

    with pytest.raises(SourceRejected) as refused:
        upload_source(store, "cohort", "bad.csv", io.BytesIO(bad), VARIABLES, "csv")

    assert {(p.kind, p.column) for p in refused.value.problems} == {
        ("missing", "deceased"), ("unexpected", "died")}
    assert refused.value.code == "source.schema_mismatch"
    assert refused.value.details[0]["kind"] in {"missing", "unexpected"}
    assert _all_versions(s3_server, store.bucket) == []


def test_a_bad_value_past_the_first_block_is_refused(s3_store):
    rows = b"".join(b"%d,%d\n" % (i, i % 90) for i in range(150_000))  # > 1 MiB
    csv = b"patient_id,age\n" + rows + b"999,unknown\n"
    variables = VARIABLES[:2]

    with pytest.raises(SourceRejected, match="unknown") as refused:
        upload_source(s3_store, "cohort", "late.csv", io.BytesIO(csv), variables, "csv")

    assert [p.kind for p in refused.value.problems] == ["value"]
    assert list(s3_store.list("")) == []


def test_an_unreadable_file_is_refused_and_nothing_is_kept(s3_store):
    with pytest.raises(SourceRejected, match="cannot read the file as parquet") as refused:
        upload_source(s3_store, "cohort", "x.parquet", io.BytesIO(b"not parquet" * 100),
                      VARIABLES, "parquet")
    assert refused.value.code == "source.unreadable"
    assert list(s3_store.list("")) == []


def test_an_existing_source_is_never_replaced(s3_store):
    upload_source(s3_store, "cohort", "a.csv", io.BytesIO(CSV), VARIABLES, "csv")

    with pytest.raises(Conflict, match="already exists"):
        upload_source(s3_store, "cohort", "a.csv", io.BytesIO(CSV + CSV[-40:]), VARIABLES,
                      "csv")
    assert s3_store.get_bytes("sources/cohort/a.csv") == CSV


def test_an_unsupported_format_is_refused_before_any_upload(s3_store):
    with pytest.raises(InvalidInput, match="unsupported source format 'xlsx'"):
        upload_source(s3_store, "cohort", "a.xlsx", io.BytesIO(b""), VARIABLES, "xlsx")
    assert list(s3_store.list("")) == []


def test_register_existing_checks_the_object_in_place(s3_store):
    s3_store.put_bytes("sources/cohort/t.parquet", _parquet(TABLE))
    s3_store.put_bytes("sources/cohort/old.csv", b"patient_id\nx\n")

    source = register_existing(s3_store, "sources/cohort/t.parquet", VARIABLES)

    assert (source.format, source.rows) == ("parquet", 3)
    with pytest.raises(SourceRejected, match="'age'"):
        register_existing(s3_store, "sources/cohort/old.csv", VARIABLES)


def test_register_existing_needs_a_source_key(s3_store):
    with pytest.raises(ValueError, match="not a source key"):
        register_existing(s3_store, "projects/p-1/x.csv", VARIABLES)


def test_sources_work_the_same_on_the_local_store(tmp_path):
    from spe.storage.local import LocalObjectStore

    store = LocalObjectStore(tmp_path)
    source = upload_source(store, "cohort", "t.parquet", io.BytesIO(_parquet(TABLE)),
                           VARIABLES, "parquet")

    assert source.rows == 3
    assert [info.key for info in store.list("")] == [source.key]
    with pytest.raises(SourceRejected):
        upload_source(store, "cohort", "bad.csv", io.BytesIO(b"x\n1\n"), VARIABLES, "csv")
    assert [info.key for info in store.list("")] == [source.key]
