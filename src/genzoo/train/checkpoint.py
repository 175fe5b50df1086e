"""Checkpoints: one folder per checkpoint, `checkpoints/step_XXXXXXXX/{state.safetensors, state.json}`.

The folder is written under a hidden temp name (`.tmp-step_...`), tensors first and the JSON last (both through
the atomic writers of models/base.py), then renamed into place: a checkpoint folder either exists complete or
not at all, so the JSON and the tensors of one checkpoint always belong together. Killing the process during a
save leaves a temp folder that loading ignores (and the next save removes). The JSON records the size and
SHA-256 of the tensors file, checked on load. Nothing is pickled: optimizer state tensors are flattened into the
safetensors file under `optim/<player>/<param index>/<key>`, the rest of the state dict goes to JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import CheckpointError
from genzoo.io import atomic_save_tensors, atomic_write_bytes, load_tensors

FORMAT = "genzoo-checkpoint-1"
_NAME = re.compile(r"^step_(\d{8})$")
TENSORS, META = "state.safetensors", "state.json"


# ---- optimizer state <-> (tensors, JSON) ---------------------------------------------------------------
def flatten_optimizer(prefix: str, state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors: dict[str, Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for idx, st in state["state"].items():
        for key, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"{prefix}/{idx}/{key}"] = v
            else:
                plain.setdefault(str(idx), {})[key] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"state": plain, "param_groups": groups}


def unflatten_optimizer(prefix: str, tensors: dict[str, Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for idx, st in meta["state"].items():
        state.setdefault(int(idx), {}).update(st)
    p = prefix + "/"
    for name, v in tensors.items():
        if name.startswith(p):
            idx, key = name[len(p):].split("/", 1)
            state.setdefault(int(idx), {})[key] = v
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


# ---- RNG states --------------------------------------------------------------------------------------
def rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss = random.getstate()
    tensors["rng/python"] = torch.tensor(internal, dtype=torch.int64)
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [version, gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda][: torch.cuda.device_count()])
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, gauss = meta["python"]
    random.setstate((version, tuple(int(x) for x in tensors["rng/python"].tolist()), gauss))


# ---- folders ----------------------------------------------------------------------------------------
def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


def list_checkpoints(ckpt_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints (folder with a state.json), oldest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    out = []
    for p in ckpt_dir.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / META).is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(ckpt_dir: str | os.PathLike) -> Path | None:
    c = list_checkpoints(ckpt_dir)
    return c[-1][1] if c else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(ckpt_dir: str | os.PathLike, step: int, tensors: dict[str, Tensor], meta: dict[str, Any],
                    keep_last: int | None = None) -> Path:
    """Write checkpoint `step` atomically (temp folder, then rename) and keep only the last `keep_last`."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for stale in ckpt_dir.glob(".tmp-*"):  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    name = checkpoint_name(step)
    tmp = ckpt_dir / f".tmp-{name}-{os.getpid()}"
    old = ckpt_dir / f".tmp-old-{name}-{os.getpid()}"
    final = ckpt_dir / name
    try:
        tmp.mkdir()
        atomic_save_tensors(tensors, tmp / TENSORS)
        meta = dict(meta, format=FORMAT, step=step, tensors=TENSORS,
                    tensors_bytes=(tmp / TENSORS).stat().st_size, tensors_sha256=_sha256(tmp / TENSORS))
        atomic_write_bytes(tmp / META, json.dumps(meta, indent=1, allow_nan=True).encode())
        if final.exists():  # re-saving a step (after a rollback): swap the old one out first
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(ckpt_dir)
    except BaseException:  # also KeyboardInterrupt: the previous checkpoint of this step goes back in place
        if old.exists() and not final.exists():
            os.replace(old, final)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if keep_last:
        for _, p in list_checkpoints(ckpt_dir)[:-keep_last]:
            _remove(p)
    return final


def _remove(folder: Path) -> None:
    """Delete a checkpoint folder: renamed to a `.tmp-*` name first (atomic), so an interrupted delete never
    leaves a half-emptied `step_*` folder that looks complete."""
    doomed = folder.with_name(f".tmp-del-{folder.name}-{os.getpid()}")
    try:
        os.replace(folder, doomed)
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(tensors, meta) of one checkpoint folder; CheckpointError if missing, corrupt or inconsistent."""
    path = Path(path)
    meta_path = path / META
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint (no {META})")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{meta_path}: corrupt JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a genzoo checkpoint (format {FORMAT!r} expected)")
    tpath = path / meta.get("tensors", TENSORS)
    if not tpath.is_file():
        raise CheckpointError(f"{path}: tensors file {tpath.name} missing")
    if tpath.stat().st_size != meta.get("tensors_bytes") or _sha256(tpath) != meta.get("tensors_sha256"):
        raise CheckpointError(f"{tpath}: corrupt checkpoint (size or SHA-256 differs from {META})")
    return load_tensors(tpath), meta
