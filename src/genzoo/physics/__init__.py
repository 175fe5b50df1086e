"""genzoo.physics: statistical-physics models as data and as checks; pure numpy (scipy for special functions).

    ising       the 2-D Ising model: energy, magnetisation, exact enumeration (L <= 4), Onsager's solution,
                Metropolis (checkerboard), Swendsen-Wang and Wolff samplers, observables with errors
    timeseries  errors of Monte Carlo averages: binning, jackknife, integrated autocorrelation time

docs/applications/ising.md describes the model, the samplers and their checks.
"""

from genzoo.physics.ising import (
    T_C,
    Measurement,
    bond_probability,
    checkerboard_flip_probability,
    density_of_states,
    energy,
    exact_observables,
    glauber_rule,
    image_from_spins,
    magnetization,
    metropolis,
    metropolis_rule,
    observables,
    onsager_energy,
    onsager_magnetization,
    spins_from_image,
    swendsen_wang,
    wolff,
)
from genzoo.physics.timeseries import (
    autocorrelation,
    binning_error,
    integrated_autocorrelation_time,
    jackknife,
    naive_error,
)

__all__ = [
    "T_C",
    "Measurement",
    "autocorrelation",
    "binning_error",
    "bond_probability",
    "checkerboard_flip_probability",
    "density_of_states",
    "energy",
    "exact_observables",
    "glauber_rule",
    "image_from_spins",
    "integrated_autocorrelation_time",
    "jackknife",
    "magnetization",
    "metropolis",
    "metropolis_rule",
    "naive_error",
    "observables",
    "onsager_energy",
    "onsager_magnetization",
    "spins_from_image",
    "swendsen_wang",
    "wolff",
]
