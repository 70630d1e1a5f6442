"""The footprint formula: Green Algorithms' energy * PUE, carbon = energy * intensity."""

import csv
import io

import pytest

from spe.footprint import Coefficients, Measured, footprint
from spe.settings import Settings

C = Coefficients(watts_per_core=10, watts_per_gib_memory=0.5,
                 watts_per_gpu={"nvidia.com/gpu": 300}, default_watts_per_gpu=100,
                 pue=1.5, grams_co2e_per_kwh=50)


def test_one_core_hour_is_its_watts_times_pue():
    result = footprint(Measured(cpu_seconds=3600), C)
    assert result.energy_kwh == pytest.approx(10 * 1.5 / 1000)
    assert result.carbon_g_co2e == pytest.approx(10 * 1.5 / 1000 * 50)


def test_memory_and_gpus_add_up_per_resource():
    usage = Measured(cpu_seconds=7200, memory_gib_seconds=3600 * 8,
                     gpu_seconds={"nvidia.com/gpu": 3600, "nvidia.com/mig-1g.10gb": 1800})
    watt_hours = 2 * 10 + 8 * 0.5 + 1 * 300 + 0.5 * 100  # the slice counts the default
    assert footprint(usage, C).energy_kwh == pytest.approx(watt_hours * 1.5 / 1000)


def test_nothing_used_is_nothing_emitted():
    assert footprint(Measured(), C).energy_kwh == 0


def test_defaults_are_green_algorithms_and_the_french_grid(monkeypatch):
    monkeypatch.setenv("SPE_USAGE_PUE", "1.2")
    monkeypatch.setenv("SPE_USAGE_WATTS_PER_GPU", '{"nvidia.com/gpu": 400}')
    s = Settings()
    assert (s.usage_watts_per_core, s.usage_watts_per_gib_memory,
            s.usage_grams_co2e_per_kwh) == (12.0, 0.3725, 33.0)
    assert s.usage_pue == 1.2 and s.usage_watts_per_gpu == {"nvidia.com/gpu": 400}
    monkeypatch.setenv("SPE_USAGE_PUE", "0.5")  # below 1 is not a PUE
    with pytest.raises(ValueError):
        Settings()


def test_csv_cells_never_start_a_formula():
    from datetime import UTC, datetime

    from spe.domain.usage import ProjectUsage, UsageReport, _figures, coefficients, report_csv

    c = coefficients(Settings())
    row = ProjectUsage(project_id="p-1", member="=HYPERLINK(\"x\")", cpu_seconds=3600,
                       since=datetime.now(UTC), updated_at=datetime.now(UTC))
    report = UsageReport(project_id="p-1", runtime="local", since=None, updated_at=None,
                         members=[_figures(row.member, [row], c)],
                         total=_figures("total", [row], c),
                         coefficients=vars(c), notes=[])
    [_, first, _] = csv.reader(io.StringIO(report_csv(report)))
    assert first[1] == "'=HYPERLINK(\"x\")"
