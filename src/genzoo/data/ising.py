"""2-D Ising configurations as binary images, sampled by Swendsen-Wang and cached on disk.

`ising_spins(L, T, n, seed, split)` returns n equilibrium configurations (n, L, L) int8 in {-1, +1} of the L x L
periodic lattice at temperature T (`genzoo.physics.ising`): SW_CHAINS independent chains from random starts,
SW_BURN_IN discarded updates, then every SW_THIN-th update kept (at L = 16 the integrated autocorrelation time
of the energy under Swendsen-Wang is about 3 updates at T_c and below 2 elsewhere, so kept configurations are
nearly independent). The chains' generator is seeded by numpy's SeedSequence([seed, split, round(T * 10^6)]):
train and test never share a stream, and every temperature of a list is the same set as asked for alone.

The configurations are cached as safetensors under `cache_folder()` ($XDG_CACHE_HOME/genzoo/ising or
~/.cache/genzoo/ising), written atomically; the file name carries L, T, n, seed, split and a hash of the sampler
settings, and a file that does not read back as exactly those configurations is generated again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from genzoo.errors import CheckpointError
from genzoo.io import atomic_save_tensors, load_tensors
from genzoo.physics.ising import image_from_spins, swendsen_wang

SW_CHAINS = 100
SW_BURN_IN = 200
SW_THIN = 10
SPLITS = {"train": 0, "test": 1}
CACHE_VERSION = 1  # bump when the sampler or its settings change: old files then miss the cache


def cache_folder() -> Path:
    """$XDG_CACHE_HOME/genzoo/ising, or ~/.cache/genzoo/ising."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "genzoo" / "ising"


def _settings(L: int, T: float, n: int, seed: int, split: str) -> dict:
    return {"L": L, "T": T, "n": n, "seed": seed, "split": split, "sampler": "swendsen-wang", "chains": SW_CHAINS,
            "burn_in": SW_BURN_IN, "thin": SW_THIN, "version": CACHE_VERSION}


def cache_path(L: int, T: float, n: int, seed: int, split: str) -> Path:
    """The cache file of one (L, T, n, seed, split) set."""
    key = hashlib.sha256(json.dumps(_settings(L, T, n, seed, split), sort_keys=True).encode()).hexdigest()[:12]
    return cache_folder() / f"ising-L{L}-T{T:g}-n{n}-seed{seed}-{split}-{key}.safetensors"


def _generate(L: int, T: float, n: int, seed: int, split: str) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], int(round(T * 1e6))]))
    return swendsen_wang(L, T, n, chains=min(SW_CHAINS, n), burn_in=SW_BURN_IN, thin=SW_THIN, seed=rng)


def _read(path: Path, L: int, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        x = load_tensors(path).get("spins")
    except CheckpointError:
        return None
    if x is None or tuple(x.shape) != (n, L, L) or x.dtype != torch.int8 or not bool((x.abs() == 1).all()):
        return None
    return x.numpy()


def ising_spins(L: int, T: float, n: int, seed: int = 0, split: str = "train", cache: bool = True) -> np.ndarray:
    """n configurations (n, L, L) int8 at temperature T, from the cache when it holds them (see the module)."""
    path = cache_path(L, T, n, seed, split)
    spins = _read(path, L, n) if cache else None
    if spins is None:
        spins = _generate(L, T, n, seed, split)
        if cache:
            meta = {k: str(v) for k, v in _settings(L, T, n, seed, split).items()}
            atomic_save_tensors({"spins": torch.from_numpy(spins)}, path, metadata=meta)
    return spins


def ising_images(L: int, temperatures: list[float], n: int, seed: int, split: str, cache: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """n configurations per temperature as float32 images (len(T) n, 1, L, L) in {0, 1} (0 -> -1, 1 -> +1), and
    the temperature index of each as an int64 label."""
    x = np.concatenate([image_from_spins(ising_spins(L, T, n, seed, split, cache)) for T in temperatures])
    y = torch.arange(len(temperatures)).repeat_interleave(n)
    return torch.from_numpy(x), y
