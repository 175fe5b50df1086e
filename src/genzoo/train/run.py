"""Run folders for the CLI and the demo: the YAML run config, data by name, a model from a run folder.

A run config (`config.yaml` in a run folder, or a user's `--config file.yaml`) has the sections

    run:   {model: vae, data: mnist, kind: image}     # written by genzoo; optional in a user's file
    model: {latent_dim: 8, ...}                       # the model's Config fields
    train: {steps: 2000, lr: 1e-3, ...}               # TrainConfig fields
    data:  {...}                                      # keyword options of genzoo.data.get (name: may be given here)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genzoo.config import parse_set
from genzoo.errors import CheckpointError, ConfigError, DataError, GenzooError, OutputError, _quoted, suggest

SECTIONS = ("run", "model", "train", "data")


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML run config, sections checked; ConfigError (one line) for a missing or malformed file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: expected a mapping with sections {', '.join(SECTIONS)}, got {type(doc).__name__}")
    return check_sections(doc, str(path))


def check_sections(doc: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if k not in SECTIONS:
            raise ConfigError(f'{where}: unknown section "{k}".{suggest(str(k), SECTIONS)} '
                              f"Valid sections: {', '.join(SECTIONS)}")
        if v is None:
            v = {}
        if not isinstance(v, Mapping):
            raise ConfigError(f"{where}: section {k}: expected a mapping, got {v!r}")
        out[k] = dict(v)
    return out


def apply_sets(doc: dict[str, Any], items: list[str] | None) -> dict[str, Any]:
    """Apply `--set section.key=value` (nested keys with dots: `train.optim.discriminator.lr=4e-4`)."""
    for key, value in parse_set(items).items():
        parts = key.split(".")
        shown = _quoted(key)[1:-1]  # control characters escaped: the message stays one line
        if len(parts) < 2 or parts[0] not in SECTIONS or not all(parts):
            sec = parts[0] if parts else key
            hint = suggest(sec, SECTIONS) if len(parts) >= 2 else ""
            raise ConfigError(f'--set {shown}: expected section.key=value with section one of '
                              f"{', '.join(SECTIONS[1:])} (e.g. train.lr=1e-3).{hint}")
        node = doc.setdefault(parts[0], {})
        for p in parts[1:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {shown}: {_quoted(p)} is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return doc


def write_yaml(path: str | os.PathLike, doc: Mapping[str, Any]) -> None:
    import yaml

    from genzoo.config import config_to_dict
    from genzoo.io import atomic_write_bytes

    text = yaml.safe_dump(config_to_dict(dict(doc)), sort_keys=False, default_flow_style=None)
    atomic_write_bytes(path, text.encode())


# ---- data by name ------------------------------------------------------------------------------------
def get_data(name: str, split: str = "train", **options: Any):
    """`genzoo.data.get(name, split, **options)` with errors kept to one line."""
    import genzoo.data as gdata

    get = getattr(gdata, "get", None)
    if get is None:
        raise DataError("genzoo.data.get is not available in this installation")
    try:
        return get(name, split=split, **options)
    except GenzooError:
        raise
    except TypeError as e:
        raise ConfigError(f"data {name}: bad option ({e})") from None


def data_names() -> list[str]:
    import genzoo.data as gdata

    for attr in ("available", "names"):
        fn = getattr(gdata, attr, None)
        if callable(fn):
            try:
                return sorted(fn())
            except Exception:  # noqa: BLE001
                pass
    for attr in ("DATASETS", "NAMES", "REGISTRY"):
        v = getattr(gdata, attr, None)
        if v:
            return sorted(v)
    return []


def data_kind(ds) -> str:
    from genzoo.train.data import infer_kind

    return getattr(ds, "kind", None) or infer_kind(ds.x)


def data_meta(ds) -> dict[str, Any]:
    return dict(getattr(ds, "meta", None) or {})


def num_classes_of(ds) -> int:
    meta = data_meta(ds)
    if meta.get("num_classes"):
        return int(meta["num_classes"])
    y = getattr(ds, "y", None)
    if y is not None and len(y) and not y.is_floating_point():
        return int(y.max()) + 1
    return 0


def is_conditional(model_cls) -> bool:
    """A model class takes labels by default when it declares `conditional = True` (the contract)."""
    return bool(model_cls.conditional)


def check_data_kind(model_name: str, kind: str, data_name: str = "data") -> None:
    """DataError naming the data kind and the models that take it when `model_name` does not (its `data_kinds`)."""
    from genzoo.models import available, get_class

    if kind in get_class(model_name).data_kinds:
        return
    takers = [n for n in available() if kind in get_class(n).data_kinds]
    who = f"models that take it: {', '.join(takers)}" if takers else f"no model takes {kind} data yet"
    raise DataError(f'{data_name} is {kind} data, which model "{model_name}" does not take '
                    f"(it takes {' or '.join(get_class(model_name).data_kinds)} data); {who}")


def fill_model_config(model_name: str, model_cfg: dict[str, Any], ds, data_name: str = "data") -> dict[str, Any]:
    """`data_shape` (and `num_classes` for conditional models) from the data set; a conflicting user value is
    a DataError naming both shapes."""
    from genzoo.models import get_class

    cls = get_class(model_name)
    cfg = dict(model_cfg)
    if data_kind(ds) == "text":
        return fill_text_config(model_name, cfg, ds, data_name)
    shape = tuple(int(s) for s in (getattr(ds, "data_shape", None) or tuple(ds.x.shape[1:])))
    if "data_shape" in cfg and cfg["data_shape"] is not None:
        given = tuple(cfg["data_shape"]) if isinstance(cfg["data_shape"], (list, tuple)) else (cfg["data_shape"],)
        if given != shape:
            raise DataError(f"model.data_shape {given} does not match data set {data_name}, whose examples have "
                            f"shape {shape}")
    cfg["data_shape"] = list(shape)
    if "num_classes" not in cfg and is_conditional(cls):
        k = num_classes_of(ds)
        if k == 0:
            raise DataError(f'model "{model_name}" is conditional but data set {data_name} has no labels')
        cfg["num_classes"] = k
    return cfg


TEXT_META = ("vocab_size", "tokenizer", "chars")  # what a text data set says about its tokeniser


def fill_text_config(model_name: str, cfg: dict[str, Any], ds, data_name: str = "data") -> dict[str, Any]:
    """A text model's tokeniser from its data set: the config fields named in TEXT_META take the data's values
    (the model saves them, so sampling needs no data); a user value that disagrees is a DataError. The window
    length (data_shape) is the model's own (its context), not the data's."""
    import dataclasses

    from genzoo.models import get_class

    fields = {f.name for f in dataclasses.fields(get_class(model_name).Config)}
    meta = data_meta(ds)
    for key in TEXT_META:
        if key not in fields or key not in meta:
            continue
        if key in cfg and cfg[key] is not None and cfg[key] != meta[key]:
            shown = "its vocabulary" if key == "chars" else f"{key} = {meta[key]!r}"
            raise DataError(f"model.{key} = {_quoted(str(cfg[key]))} does not match data set {data_name} "
                            f"({shown}); leave model.{key} unset to take the data's")
        cfg[key] = meta[key]
    return cfg


# ---- models from run folders -------------------------------------------------------------------------
def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: is a file, not a run folder (give the folder genzoo train wrote)")
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a genzoo run folder (no config.yaml)")
    doc = read_yaml(path)
    if "model" not in doc.get("run", {}):
        raise CheckpointError(f"{path}: no run.model entry (not written by genzoo train?)")
    return doc


def load_run_model(run_dir: str | os.PathLike, which: str = "auto", map_location: str = "cpu"):
    """The trained model of a run: the final `model/` folder, or (which="checkpoint", or when there is no final
    model yet) the latest checkpoint's EMA weights when present, else its weights."""
    from genzoo.models import create, load
    from genzoo.train.checkpoint import latest_checkpoint, load_checkpoint

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    if which in ("auto", "final") and (run_dir / "model" / "config.json").is_file():
        from genzoo.models.base import read_model_meta

        doc = read_run_config(run_dir)
        named = read_model_meta(run_dir / "model").get("model")
        if named != doc["run"]["model"]:
            raise CheckpointError(f'{run_dir / "model" / "config.json"} names model "{named}", but the run '
                                  f'(config.yaml) trained "{doc["run"]["model"]}"; the folder was edited or mixed')
        return load(run_dir / "model", map_location=map_location)
    if which == "final":
        raise CheckpointError(f"{run_dir}: no final model (model/ missing); the run may still be training")
    last = latest_checkpoint(run_dir / "checkpoints")
    if last is None:
        raise CheckpointError(f"{run_dir}: holds no model/ and no checkpoint (checkpoints/step_*/)")
    tensors, meta = load_checkpoint(last)
    info = meta.get("model") or {}
    if not isinstance(info, dict) or not info.get("name") or not isinstance(info.get("config"), dict):
        raise CheckpointError(f"{last}: the checkpoint names no registered model")
    try:
        model = create(str(info["name"]), **info["config"])
    except ConfigError as e:
        raise CheckpointError(f'{last}: its model config does not fit model "{info["name"]}" '
                              f"({str(e).split('. Did you mean')[0].split(' Valid keys')[0]})") from None
    prefix = "ema/" if any(k.startswith("ema/") for k in tensors) else "model/"
    sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]  # torch: a header, then one per key
        raise CheckpointError(f"{last}: weights do not match the model ({lines[min(1, len(lines) - 1)]})") from None
    model.load_extra_state(meta.get("extra_state", {}))
    return model.to(map_location)


# ---- a training run from a run config -------------------------------------------------------------------
def load_eval_data(name: str, options: Mapping[str, Any], split: str = "test", quiet: bool = False):
    """The held-out split, or None (with a note) when the data set has none."""
    import sys

    try:
        return get_data(name, split, **dict(options))
    except GenzooError as e:
        if not quiet:
            print(f"genzoo: no held-out split for {name} ({e}); training without evaluation", file=sys.stderr)
        return None


def build_model(model_name: str, model_cfg: Mapping[str, Any]):
    """`genzoo.models.create`, with sizes too large to allocate (hidden=[10**10], latent_dim=10**20) turned into
    one ConfigError; torch reports them as an allocator RuntimeError, MemoryError or an overflow TypeError."""
    from genzoo.models import create

    try:
        return create(model_name, **dict(model_cfg))
    except (MemoryError, RuntimeError, TypeError, OverflowError) as e:
        text = str(e).lower()
        if not isinstance(e, MemoryError) and "alloc" not in text and "overflow" not in text:
            raise
        raise ConfigError(f'model "{model_name}": its sizes are too large to build in memory '
                          f"({type(e).__name__}); choose smaller model settings") from None


def check_misplaced_keys(model_name: str, doc: Mapping[str, Any]) -> None:
    """A model: or train: key that is no setting of its own section but one of the other's (model.seed, train.
    n_blocks) is a ConfigError naming the section it belongs to, rather than a near name of the wrong kind."""
    import dataclasses

    from genzoo.models import get_class
    from genzoo.train import TrainConfig

    fields = {"model": {f.name for f in dataclasses.fields(get_class(model_name).Config)},
              "train": {f.name for f in dataclasses.fields(TrainConfig) if not f.metadata.get("internal")}}
    for sec, other in (("model", "train"), ("train", "model")):
        for key, value in dict(doc.get(sec) or {}).items():
            if key not in fields[sec] and key in fields[other]:
                raise ConfigError(f"{sec}.{_quoted(key)[1:-1]}: {key} is a {other} setting, not a {sec} one "
                                  f"(--set {other}.{key}=..., or under {other}: in a config file)")


def start_run(model_name: str, data_name: str, doc: Mapping[str, Any], out: str | os.PathLike,
              overrides: Mapping[str, Any] | None = None, callbacks=None):
    """Build data, model and Trainer from a run config (sections model/train/data), write `out/config.yaml`;
    returns the Trainer, ready to `fit()`. Used by `genzoo train` and `genzoo demo`."""
    from genzoo.models import get_class
    from genzoo.train import Trainer, make_train_config, seed_everything

    get_class(model_name)  # unknown model: nearest name suggested, before any data is loaded
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; the run folder must be a folder (choose another --out)")
    parent = next((q for q in out.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"--out {out}: cannot make the run folder: {parent} is a file, not a folder")
    if (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise ConfigError(f"{out} already holds a run: continue it with --resume, or choose another --out")
    check_misplaced_keys(model_name, doc)
    data_opts = {k: v for k, v in dict(doc.get("data", {})).items() if k != "name"}
    train_cfg = make_train_config(dict(doc.get("train", {})), **dict(overrides or {}))
    train = get_data(str(data_name), "train", **data_opts)
    test = load_eval_data(str(data_name), data_opts)
    check_data_kind(model_name, data_kind(train), str(data_name))
    model_cfg = fill_model_config(model_name, dict(doc.get("model", {})), train, str(data_name))
    seed_everything(train_cfg.seed)
    model = build_model(model_name, model_cfg)
    trainer = Trainer(model, train, train_cfg, out_dir=out, eval_data=test, callbacks=callbacks)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--out {out}: cannot make the run folder ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: cannot write in the run folder (no permission)")
    if not trainer.is_main:  # under torchrun rank 0 writes the run folder
        return trainer
    write_yaml(out / "config.yaml", {
        "run": {"model": model_name, "data": str(data_name), "kind": data_kind(train)},
        "model": model.config_dict(),
        "train": trainer.config.to_dict(),
        "data": data_opts,
    })
    return trainer
