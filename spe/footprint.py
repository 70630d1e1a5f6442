"""The estimated energy and carbon footprint of measured usage (pure arithmetic).

The Green Algorithms method (Lannelongue, Grealey & Inouye, *Advanced Science* 2021,
doi:10.1002/advs.202100707): energy = runtime * (cores * power per core * core usage +
memory * power per GiB) * PUE, carbon = energy * the grid's carbon intensity. spe measures
CPU-seconds (runtime * cores * usage already folded in), memory GiB-hours and GPU-hours, so
the formula becomes a sum of measured quantities times coefficients. The coefficients, their
defaults and their sources are in docs/usage.md and are settings (``SPE_USAGE_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Coefficients:
    watts_per_core: float
    watts_per_gib_memory: float
    watts_per_gpu: dict[str, float] = field(default_factory=dict)
    """Per GPU resource name (``nvidia.com/gpu``, a MIG slice...): the power drawn by one."""
    default_watts_per_gpu: float = 0.0
    pue: float = 1.0
    grams_co2e_per_kwh: float = 0.0


@dataclass(frozen=True)
class Measured:
    cpu_seconds: float = 0.0
    memory_gib_seconds: float = 0.0
    gpu_seconds: dict[str, float] = field(default_factory=dict)
    """Per GPU resource name."""


@dataclass(frozen=True)
class Footprint:
    energy_kwh: float
    carbon_g_co2e: float


def footprint(usage: Measured, c: Coefficients) -> Footprint:
    """Energy (kWh, facility included through the PUE) and carbon (gCO2e) of ``usage``."""
    gpu_joules = sum(seconds * c.watts_per_gpu.get(resource, c.default_watts_per_gpu)
                     for resource, seconds in usage.gpu_seconds.items())
    joules = (usage.cpu_seconds * c.watts_per_core
              + usage.memory_gib_seconds * c.watts_per_gib_memory + gpu_joules) * c.pue
    kwh = joules / 3.6e6
    return Footprint(energy_kwh=kwh, carbon_g_co2e=kwh * c.grams_co2e_per_kwh)
