"""A synthetic SNDS-like dataset, at any size, the same for the same seed.

Two tables, modelled loosely on the French national health data system (SNDS):

``beneficiaries``  one row per person: a NIR-like identifier (13 digits whose first is the sex
                   and the next two the birth year, then a 2-digit key, 97 - n mod 97), sex,
                   birth year, department of residence.
``care``           one row per care event: the beneficiary's NIR, a prescriber (RPPS-like 11
                   digits, a second direct identifier), date, act code, ATC and CIP-13 drug
                   codes, ICD-10 diagnosis (Zipf-skewed, with a handful of rare codes),
                   cost with a heavy tail, amount reimbursed, department of the provider.

Nothing here is real: codes look like the real ones, rows are drawn from numpy's PCG64 seeded
with ``(seed, table, batch)``, so a batch is the same whatever the batches around it. Every
column is built vectorised (numpy, then Arrow kernels), so ten million care rows take seconds.
:data:`CATALOGUE` describes the variables of each table with their classification, for
registering the demo datasets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TABLES = ("beneficiaries", "care")
Classification = Literal["direct_identifier", "quasi_identifier", "sensitive", "other"]
_TABLE_IDS = {"beneficiaries": 1, "care": 2, "prescribers": 3}
_YEAR = np.datetime64("2023-01-01")
_NIR_MULTIPLIER = 48_271  # coprime to 10^8: i -> (i*M + C) mod 10^8 is one-to-one
MAX_BENEFICIARIES = 10**8

CATALOGUE: dict[str, list[dict[str, str]]] = {
    "beneficiaries": [
        {"name": "nir", "type": "string", "classification": "direct_identifier",
         "description": "NIR-like national identifier: 13 digits and a 2-digit key"},
        {"name": "sex", "type": "int8", "classification": "quasi_identifier",
         "description": "1 male, 2 female"},
        {"name": "birth_year", "type": "int16", "classification": "quasi_identifier",
         "description": "year of birth"},
        {"name": "department", "type": "string", "classification": "quasi_identifier",
         "description": "department of residence (INSEE code)"},
    ],
    "care": [
        {"name": "nir", "type": "string", "classification": "direct_identifier",
         "description": "NIR of the beneficiary"},
        {"name": "prescriber_id", "type": "string", "classification": "direct_identifier",
         "description": "RPPS-like identifier of the prescribing professional"},
        {"name": "care_date", "type": "date32", "classification": "quasi_identifier",
         "description": "date of care"},
        {"name": "act_code", "type": "string", "classification": "other",
         "description": "NGAP/CCAM-like act code"},
        {"name": "atc_code", "type": "string", "classification": "sensitive",
         "description": "ATC class of the drug dispensed"},
        {"name": "cip13", "type": "string", "classification": "sensitive",
         "description": "CIP-13-like code of the drug dispensed"},
        {"name": "icd10", "type": "string", "classification": "sensitive",
         "description": "ICD-10 diagnosis code"},
        {"name": "cost_eur", "type": "float64", "classification": "other",
         "description": "amount charged, euros"},
        {"name": "reimbursed_eur", "type": "float64", "classification": "other",
         "description": "amount reimbursed by the health insurance, euros"},
        {"name": "provider_department", "type": "string", "classification": "quasi_identifier",
         "description": "department of the care provider"},
    ],
}

_DEPARTMENTS = np.array([f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"]
                        + ["971", "972", "973", "974", "976"])
_ACTS = np.array(["C", "G", "V", "K", "AMI", "PHAR", "B", "YYYY010", "ZBQK002", "DEQP003"])
_ACT_WEIGHTS = np.array([30, 25, 3, 2, 8, 20, 8, 1, 2, 1], dtype=float)
_ACT_RATES = np.array([0.7, 0.7, 0.7, 0.7, 0.6, 0.65, 0.6, 0.8, 0.7, 0.7])
_ATC = np.array(["N02BE01", "J01CA04", "C10AA05", "A02BC01", "N05BA12", "R03AC02", "C09AA05",
                 "A10BA02", "B01AC06", "H03AA01", "N06AB06", "M01AE01", "C07AB07", "R06AE07",
                 "J01CR02", "N02AX02", "L04AX03", "L01XC02", "N07BC02", "A11CC05"])
_RARE_ICD10 = ["A00.0", "G12.2", "E75.2", "Q90.0", "C91.0"]  # cholera, ALS, Fabry, Down, ALL


def _icd10_codes() -> np.ndarray:
    chapters = "ABCDEFGHIJKLMNOPQRSTZ"
    common = [f"{letter}{n:02d}" for letter in chapters for n in range(0, 100, 7)]
    return np.array(common + _RARE_ICD10)


_ICD10 = _icd10_codes()
_ICD10_WEIGHTS = np.concatenate([
    1.0 / np.arange(1, len(_ICD10) - len(_RARE_ICD10) + 1) ** 1.1,  # Zipf, s = 1.1
    np.full(len(_RARE_ICD10), 2e-6),
])


def _rng(seed: int, table: str, batch: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TABLE_IDS[table], batch])


def _pick(rng: np.random.Generator, values: np.ndarray, size: int,
          weights: np.ndarray | None = None) -> pa.Array:
    """``size`` draws from ``values``, as a string column built by an Arrow take."""
    p = None if weights is None else weights / weights.sum()
    index = rng.choice(len(values), size=size, p=p)
    return pa.array(values).take(pa.array(index))


def _digits(numbers: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width, "0")


def beneficiaries(count: int, seed: int = 0) -> pa.Table:
    """The ``count`` beneficiaries of the dataset drawn from ``seed``."""
    if not 0 < count <= MAX_BENEFICIARIES:
        raise ValueError(f"between 1 and {MAX_BENEFICIARIES} beneficiaries")
    rng = _rng(seed, "beneficiaries", 0)
    sex = rng.integers(1, 3, size=count, dtype=np.int8)
    birth_year = rng.integers(1925, 2023, size=count).astype(np.int16)
    month = rng.integers(1, 13, size=count)
    unique_tail = (np.arange(count, dtype=np.int64) * _NIR_MULTIPLIER + seed) % 10**8
    nir13 = ((sex.astype(np.int64) * 100 + birth_year % 100) * 100 + month) * 10**8 + unique_tail
    key = 97 - nir13 % 97
    nir = pc.binary_join_element_wise(_digits(nir13, 13), _digits(key, 2), "")
    department = _pick(rng, _DEPARTMENTS, count, np.linspace(3.0, 1.0, len(_DEPARTMENTS)))
    return pa.table({"nir": nir, "sex": sex, "birth_year": birth_year,
                     "department": department})


def _prescribers(count: int, seed: int) -> pa.Array:
    rng = _rng(seed, "prescribers", 0)
    return _digits(10_000_000_000 + rng.choice(10**9, size=count, replace=False), 11)


def care(rows: int, seed: int = 0, n_beneficiaries: int | None = None,
         n_prescribers: int | None = None, batch_rows: int = 1_000_000,
         ) -> Iterator[pa.RecordBatch]:
    """``rows`` care events in batches of ``batch_rows``; the NIRs are those of
    ``beneficiaries(n_beneficiaries, seed)`` (default: one person per 20 events)."""
    if rows < 0 or batch_rows <= 0:
        raise ValueError("rows must be >= 0 and batch_rows > 0")
    n_beneficiaries = n_beneficiaries or max(1, min(rows // 20, MAX_BENEFICIARIES))
    n_prescribers = n_prescribers or max(1, n_beneficiaries // 25)
    people = beneficiaries(n_beneficiaries, seed).column("nir").combine_chunks()
    prescribers = _prescribers(n_prescribers, seed)
    for batch, start in enumerate(range(0, rows, batch_rows)):
        size = min(batch_rows, rows - start)
        rng = _rng(seed, "care", batch)
        act = rng.choice(len(_ACTS), size=size, p=_ACT_WEIGHTS / _ACT_WEIGHTS.sum())
        atc = rng.integers(0, len(_ATC), size=size)
        cost = np.round(rng.lognormal(3.0, 1.0, size=size)
                        * np.where(rng.random(size) < 0.01, rng.pareto(1.5, size) * 50 + 1, 1),
                        2)
        yield pa.record_batch({
            "nir": people.take(pa.array(rng.integers(0, n_beneficiaries, size=size))),
            "prescriber_id": prescribers.take(
                pa.array(rng.zipf(1.3, size=size) % n_prescribers)),
            "care_date": pa.array(_YEAR + rng.integers(0, 365, size=size).astype("m8[D]")),
            "act_code": pa.array(_ACTS).take(pa.array(act)),
            "atc_code": pa.array(_ATC).take(pa.array(atc)),
            "cip13": pc.binary_join_element_wise("34009", _digits(atc * 1000 + 301, 8), ""),
            "icd10": _pick(rng, _ICD10, size, _ICD10_WEIGHTS),
            "cost_eur": cost,
            "reimbursed_eur": np.round(cost * _ACT_RATES[act], 2),
            "provider_department": _pick(rng, _DEPARTMENTS, size),
        })


def write(table: str, path: Path, rows: int, seed: int = 0,
          fmt: Literal["parquet", "csv"] = "parquet", row_group_rows: int = 1_000_000,
          n_beneficiaries: int | None = None) -> int:
    """Write ``rows`` rows of ``table`` to ``path`` (Parquet, one row group per
    ``row_group_rows``, or CSV); returns the number of rows written. ``n_beneficiaries``
    fixes the population the care rows are drawn from (see :func:`care`)."""
    if table == "beneficiaries":
        source = beneficiaries(rows, seed).to_batches(max_chunksize=row_group_rows)
    elif table == "care":
        source = care(rows, seed, n_beneficiaries, batch_rows=row_group_rows)
    else:
        raise ValueError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
    schema = pa.schema([(v["name"], v["type"]) for v in CATALOGUE[table]])
    if fmt == "parquet":
        with pq.ParquetWriter(path, schema) as writer:
            for batch in source:
                writer.write_batch(batch, row_group_size=row_group_rows)
    elif fmt == "csv":
        with pacsv.CSVWriter(path, schema) as writer:
            for batch in source:
                writer.write_batch(batch)
    else:
        raise ValueError(f"unknown format {fmt!r}: parquet or csv")
    return rows
