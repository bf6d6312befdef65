"""Bring your own data: fit a source, transfer to a target, sample — each into a run folder.

A run folder holds ``config.json`` (the resolved settings), ``model/`` (``save_pretrained``),
``scaling.json`` (the standardisation of x, z and z^c), ``metrics.json`` and ``checkpoints/``
(resumable training state). The shared block ``z`` is standardised with the *source's*
statistics in both tasks, since the embedding ``h`` was learned on that scale.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gentransfer.config import load_pretrained
from gentransfer.data.tabular import Table
from gentransfer.diffusion import ConditionalDiffusion
from gentransfer.errors import CheckpointError, ConfigError, DataError
from gentransfer.flows import ConditionalFlow
from gentransfer.nn import SharedEmbedding
from gentransfer.runs import write_json
from gentransfer.selection import choose_strategy, heldout_loss_rows
from gentransfer.training import TrainConfig, fit
from gentransfer.transfer import STRATEGIES, transfer

__all__ = ["FAMILIES", "fit_source", "fit_target", "sample_run", "prepare_out_dir", "AUTO_MIN_VALIDATION"]

FAMILIES = {"flow": ConditionalFlow, "diffusion": ConditionalDiffusion}
AUTO_MIN_VALIDATION = 10  # rows of target data the auto strategy holds out, at least


def prepare_out_dir(out: str | Path, *, overwrite: bool, resume: bool) -> Path:
    """Check ``out`` before anything is trained: it must not hold a run (unless overwrite/resume)
    and must be writable."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} exists and is not a folder", "pass a folder path")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        raise ConfigError(f"--out {path} already exists", "pass --overwrite to replace it, --resume to continue it")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write to --out {path} ({err.strerror})", "pass a writable folder") from None
    if overwrite and not resume:
        for child in ("model", "checkpoints", "metrics.json", "transfer_report.json", "candidates"):
            target = path / child
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    return path


def _stats(a: np.ndarray | None) -> dict[str, list[float]] | None:
    if a is None:
        return None
    sd = a.std(axis=0)
    return {"mean": a.mean(axis=0).tolist(), "std": np.where(sd > 0, sd, 1.0).tolist()}


def _apply(a: np.ndarray | None, s: dict[str, list[float]] | None) -> np.ndarray | None:
    if a is None or s is None:  # no array, or one kept as is (class labels)
        return a
    return (a - np.asarray(s["mean"])) / np.asarray(s["std"])


def _read_run(run: str | Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    path = Path(run)
    for name in ("config.json", "scaling.json"):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not a gentransfer run folder (no {name})",
                                  "point to a folder written by fit-source or fit-target")
    try:
        config = json.loads((path / "config.json").read_text())
        scaling = json.loads((path / "scaling.json").read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: a run file is not valid JSON ({err})", "re-create the run") from None
    return load_pretrained(path / "model"), config, scaling


def _train(model, x, z, zc, train: dict[str, Any], run: Path, resume: bool, name: str = "checkpoints"):
    cfg = TrainConfig.from_dict(train)
    return fit(model, x, z, zc, config=cfg, checkpoint_dir=str(run / name), resume=resume)


def fit_source(data: Table, family: str, out: str | Path, *, model: dict[str, Any] | None = None,
               train: dict[str, Any] | None = None, seed: int = 0, overwrite: bool = False,
               resume: bool = False, settings: dict[str, Any] | None = None) -> Path:
    """Fit a source model on ``data`` (``x``, shared ``z``, optional ``zc``) into ``out``."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r}", f"use one of {sorted(FAMILIES)}")
    if data.z is None:
        raise DataError(f"{data.source} has no shared conditions z",
                        "name the shared condition columns (--z-columns) or store array 'z'")
    kwargs = dict(model or {})  # the model's constructor arguments; `model` itself is recorded as given
    n_classes = kwargs.pop("n_classes", None)
    if n_classes is not None and data.z.shape[1] != 1:
        raise DataError(f"{data.source}: class labels need one z column, got {data.z.shape[1]}",
                        "pass a single label column as z")
    run = prepare_out_dir(out, overwrite=overwrite, resume=resume)
    scaling = {"x": _stats(data.x), "z": _stats(data.z), "zc": _stats(data.zc)}
    torch.manual_seed(seed)  # before any weights are made
    if n_classes is not None:  # z is a class label: h is a lookup table, and z is not standardised
        kwargs["embedding"] = SharedEmbedding(1, kwargs.pop("embed_dim", 4), n_classes=n_classes)
        scaling["z"] = None
    net = FAMILIES[family](x_dim=data.x.shape[1], z_dim=data.z.shape[1],
                           zc_dim=0 if data.zc is None else data.zc.shape[1], **kwargs)
    write_json(run / "config.json", {**(settings or {}), "role": "source", "family": family, "seed": seed,
                                     "model": model or {}, "train": train or {}})
    write_json(run / "scaling.json", scaling)
    result = _train(net, _apply(data.x, scaling["x"]), _apply(data.z, scaling["z"]),
                    _apply(data.zc, scaling["zc"]), {**(train or {}), "seed": seed}, run, resume)
    net.save_pretrained(run / "model")
    write_json(run / "metrics.json", result.to_dict())
    return run


def fit_target(source: str | Path, data: Table, strategy: str, out: str | Path, *,
               train: dict[str, Any] | None = None, seed: int = 0, overwrite: bool = False, resume: bool = False,
               settings: dict[str, Any] | None = None, log=print) -> Path:
    """Transfer the model in run folder ``source`` to ``data`` under ``strategy`` (or ``auto``)."""
    if strategy != "auto" and strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}", f"use one of {[*STRATEGIES, 'auto']}")
    src_model, src_config, src_scaling = _read_run(source)
    if data.z is None:
        raise DataError(f"{data.source} has no shared conditions z",
                        f"give the target the source's shared block z ({src_model.z_dim} columns)")
    if data.z.shape[1] != src_model.z_dim:
        raise DataError(f"{data.source}: z has {data.z.shape[1]} columns but the source's shared block has "
                        f"{src_model.z_dim}", "give the target the same shared condition columns as the source")
    n = len(data.x)
    if strategy == "auto" and round(0.2 * n) < AUTO_MIN_VALIDATION:
        raise DataError(f"{data.source} has {n} rows: too few for the validation split that --strategy auto needs",
                        f"pass at least {int(np.ceil(AUTO_MIN_VALIDATION / 0.2))} target rows, or choose a strategy")
    run = prepare_out_dir(out, overwrite=overwrite, resume=resume)
    scaling = {"x": _stats(data.x), "z": src_scaling["z"], "zc": _stats(data.zc)}
    x, z, zc = _apply(data.x, scaling["x"]), _apply(data.z, scaling["z"]), _apply(data.zc, scaling["zc"])
    dims = {"x_dim": data.x.shape[1], "zc_dim": 0 if data.zc is None else data.zc.shape[1]}
    write_json(run / "config.json", {**(settings or {}), "role": "target", "source": str(source),
                                     "strategy": strategy, "seed": seed, "train": train or {},
                                     "family": src_config.get("family")})
    write_json(run / "scaling.json", scaling)
    train_cfg = {**(train or {}), "seed": seed}
    if strategy != "auto":
        torch.manual_seed(seed)
        target = transfer(src_model, strategy, **dims)
        result = _train(target, x, z, zc, train_cfg, run, resume)
        metrics = {"strategy": strategy, **result.to_dict()}
    else:
        perm = np.random.default_rng(seed).permutation(n)
        val, fit_rows = perm[: round(0.2 * n)], perm[round(0.2 * n):]
        take = lambda a, rows: None if a is None else a[rows]  # noqa: E731
        candidates, losses = {}, {}
        for name in STRATEGIES:
            torch.manual_seed(seed)
            model = transfer(src_model, name, **dims)
            _train(model, take(x, fit_rows), take(z, fit_rows), take(zc, fit_rows), train_cfg, run, resume,
                   name=f"candidates/{name}")
            candidates[name] = model
            losses[name] = heldout_loss_rows(model, take(x, val), take(z, val), take(zc, val), seed=seed)
        choice = choose_strategy(losses)
        write_json(run / "transfer_report.json", choice.to_dict())
        log(choice.table())
        target = candidates[choice.chosen]
        metrics = {"strategy": choice.chosen, "auto": choice.to_dict()}
    target.save_pretrained(run / "model")
    write_json(run / "metrics.json", metrics)
    return run


def sample_run(run: str | Path, n: int, cond: Table | None, *, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` samples per condition row (or ``n`` in all for a model without conditions), in data units."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"--n must be a positive integer, got {n!r}", "pass --n 1 or more")
    model, _, scaling = _read_run(run)
    needs = model.z_dim + model.zc_dim > 0
    if needs and cond is None:
        raise DataError(f"the model in {run} is conditional and needs conditions",
                        "pass --cond FILE with its z (and zc) columns")
    if not needs and cond is not None:
        raise DataError(f"the model in {run} takes no conditions", "drop --cond")
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, np.ndarray] = {}
    if cond is None:
        x = model.sample(n=n, generator=gen).cpu().numpy()
    else:
        model.validate(None, cond.z, cond.zc)  # widths and presence, in the user's units
        z = None if cond.z is None else np.repeat(cond.z, n, axis=0)
        zc = None if cond.zc is None else np.repeat(cond.zc, n, axis=0)
        x = model.sample(_apply(z, scaling["z"]), _apply(zc, scaling["zc"]), generator=gen).cpu().numpy()
        out.update({k: v for k, v in (("z", z), ("zc", zc)) if v is not None})
    out["x"] = x * np.asarray(scaling["x"]["std"]) + np.asarray(scaling["x"]["mean"])
    return out
