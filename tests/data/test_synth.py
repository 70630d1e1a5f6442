"""The synthetic SNDS-like dataset: deterministic, plausible, described by its catalogue."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from spe.data import synth


def care_table(rows: int, seed: int = 1, **kwargs) -> pa.Table:
    return pa.Table.from_batches(list(synth.care(rows, seed, **kwargs)))


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    assert care_table(5_000).equals(care_table(5_000))
    assert not care_table(5_000).equals(care_table(5_000, seed=2))
    assert synth.beneficiaries(100, 3).equals(synth.beneficiaries(100, 3))


def test_nirs_are_unique_well_formed_and_consistent_with_sex_and_birth_year():
    people = synth.beneficiaries(50_000, seed=4)
    nirs = people.column("nir").to_pylist()
    assert len(set(nirs)) == len(nirs)
    for nir, sex, year in zip(nirs[:500], people.column("sex").to_pylist(),
                              people.column("birth_year").to_pylist(), strict=False):
        assert len(nir) == 15 and nir.isdigit()
        assert 97 - int(nir[:13]) % 97 == int(nir[13:])
        assert (int(nir[0]), nir[1:3]) == (sex, f"{year % 100:02d}")


def test_care_rows_belong_to_the_beneficiaries_of_the_same_seed():
    table = care_table(20_000, seed=5, n_beneficiaries=800)
    people = set(synth.beneficiaries(800, seed=5).column("nir").to_pylist())
    assert set(table.column("nir").to_pylist()) <= people
    assert table.column_names == [v["name"] for v in synth.CATALOGUE["care"]]


def test_diagnoses_are_skewed_with_rare_categories_and_costs_heavy_tailed():
    table = care_table(200_000, seed=6)
    counts = {row["values"]: row["counts"]
              for row in pc.value_counts(table.column("icd10")).to_pylist()}
    ordered = sorted(counts.values(), reverse=True)
    assert ordered[0] > 20 * ordered[len(ordered) // 2]  # Zipf: a few codes dominate
    assert sum(counts.get(code, 0) for code in synth._RARE_ICD10) < 20
    cost = table.column("cost_eur")
    assert pc.max(cost).as_py() > 50 * pc.approximate_median(cost).as_py()
    assert pc.all(pc.less_equal(table.column("reimbursed_eur"), cost)).as_py()


def test_batches_do_not_depend_on_each_other():
    whole = care_table(3_000, batch_rows=1_000, n_beneficiaries=100)
    shorter = care_table(2_000, batch_rows=1_000, n_beneficiaries=100)
    assert whole.slice(1_000, 1_000).equals(shorter.slice(1_000))


@pytest.mark.parametrize("table", synth.TABLES)
def test_written_parquet_and_csv_match_the_catalogue(tmp_path, table):
    synth.write(table, tmp_path / "t.parquet", 2_500, seed=1, row_group_rows=1_000)
    synth.write(table, tmp_path / "t.csv", 2_500, seed=1, fmt="csv")

    parquet = pq.ParquetFile(tmp_path / "t.parquet")
    assert parquet.metadata.num_rows == 2_500
    assert parquet.metadata.num_row_groups == 3
    names = [v["name"] for v in synth.CATALOGUE[table]]
    assert parquet.schema_arrow.names == names
    assert pacsv.read_csv(tmp_path / "t.csv").column_names == names


def test_every_variable_is_classified():
    for variables in synth.CATALOGUE.values():
        for variable in variables:
            assert set(variable) == {"name", "type", "classification", "description"}
            assert variable["classification"] in {"direct_identifier", "quasi_identifier",
                                                  "sensitive", "other"}
    assert [v["name"] for v in synth.CATALOGUE["care"]
            if v["classification"] == "direct_identifier"] == ["nir", "prescriber_id"]


def test_unknown_tables_and_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown table"):
        synth.write("claims", tmp_path / "x", 10)
    with pytest.raises(ValueError, match="unknown format"):
        synth.write("care", tmp_path / "x", 10, fmt="json")
