"""Fit a source, transfer it to a target: each into a run folder, as one transaction.

Every function validates all of its input (settings, data, the source run) before it touches the
disk, and writes its run through :func:`~gentransfer.pipeline.runfolder.run_transaction`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gentransfer.data.images import PixelScale
from gentransfer.data.mixed import MixedTransform
from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError, ConfigError, DataError
from gentransfer.families import get_family
from gentransfer.pipeline.evaluate import FAR_ABOVE_FLOOR, few_rows_note, heldout_check
from gentransfer.pipeline.kinds import Kind, SourceRun, kind_of_data
from gentransfer.pipeline.pooled import pooled_rows, pooled_scaling, target_split
from gentransfer.pipeline.runfolder import RunFolder, check_out, run_transaction
from gentransfer.pipeline.scaling import Scaling
from gentransfer.pipeline.settings import MAX_PARAMETERS, ModelSettings
from gentransfer.training import MAX_SEED, TrainSettings, check_rows, split_rows
from gentransfer.training.distributed import device as device_of
from gentransfer.transfer import GUARD, check_choice, get_strategy, run_guard, transfer
from gentransfer.transfer.adapters import MIN_RANK, WIDTH_PER_RANK
from gentransfer.transfer.guard import LOSS_UNITS, guard_rows

__all__ = ["fit_source", "fit_target", "FAR_ABOVE_FLOOR"]


def _settings(model: ModelSettings | dict[str, Any] | None, train: TrainSettings | dict[str, Any] | None,
              init_seed: Any) -> tuple[ModelSettings, TrainSettings]:
    arch = model if isinstance(model, ModelSettings) else ModelSettings.from_dict(model)
    cfg = train if isinstance(train, TrainSettings) else TrainSettings.from_dict(train or {})
    if init_seed is not None and (not isinstance(init_seed, int) or isinstance(init_seed, bool)
                                  or not 0 <= init_seed <= MAX_SEED):
        raise ConfigError(f"init_seed must be an integer in 0..2^62, got {init_seed!r}", "pass --init-seed 0 or more")
    return arch, cfg


def fit_source(data: Table, family: str, out: str | Path, *, model: ModelSettings | dict[str, Any] | None = None,
               train: TrainSettings | dict[str, Any] | None = None, overwrite: bool = False, resume: bool = False,
               bounds: str | tuple[float, float] = "auto", settings: dict[str, Any] | None = None,
               init_seed: int | None = None, device: str = "cpu", score_heldout: bool = True,
               log=print) -> Path:
    """Fit a source model of ``family`` on ``data`` (``x``, shared ``z``, optional ``zc``) into ``out``.

    ``train`` holds the training settings, its ``seed`` included (split, batches, and the initial
    weights unless ``init_seed`` seeds them apart); ``bounds`` the ranges of x
    (:class:`~gentransfer.data.columns.ColumnTransform`); ``settings`` are extra entries recorded
    in the run's ``config.json``. ``device``: cpu, cuda or auto. ``score_heldout=False`` skips the
    held-out check (it samples up to 2,000 rows; a benchmark that scores its own way need not pay
    for it).
    """
    get_family(family)
    arch, cfg = _settings(model, train, init_seed)
    where = device_of(device)
    if data.z is None and (arch.n_classes is not None or arch.embed_dim is not None):
        raise DataError(f"{data.source} has no shared conditions z, but --n-classes / --embed-dim describe them",
                        "name the shared condition columns (--z-columns) or store array 'z'")
    kind = kind_of_data(data, arch)
    kind.check_source(arch, family, data, log)
    scaling = kind.source_scaling(kind.x_scaler(data, bounds), arch, data)
    _check_size(kind, family, arch, data, scaling)
    torch.manual_seed(cfg.seed if init_seed is None else init_seed)  # before any weights are made
    net = kind.build(family, arch, data, scaling)
    x, (z, zc) = scaling.training_rows(data, cfg.seed), scaling.conditions(data)
    net.validate(x, z, zc)
    check_rows(len(x), cfg.val_fraction)
    final = check_out(out, overwrite=overwrite, resume=resume)
    config = {**(settings or {}), "role": "source", "family": family, "model": asdict(arch), "train": asdict(cfg),
              "columns": scaling.x.describe(), "classes": list(data.classes) if data.classes else None,
              "column_order": list(data.header) if data.header else None}
    _log_columns(scaling.x, data, log)
    _say_plan(f"{family} source", [net], len(x), cfg, log)
    with run_transaction(final, overwrite=overwrite, resume=resume) as run:
        net.to(where)
        result, stages = kind.fit(net, x, z, zc, cfg, run.checkpoints, resume, refine=False)
        check = None
        if score_heldout:
            train_rows, val_rows = split_rows(len(x), cfg.val_fraction, cfg.seed)
            check = heldout_check(net, scaling, data, val_rows, train_rows, cfg.seed)
            _say_check(check, log)
        run.write(net, config, scaling, {**result.to_dict(), **stages, "heldout_check": check})
    return final


def fit_target(source: str | Path, data: Table, strategy: str, out: str | Path, *,
               train: TrainSettings | dict[str, Any] | None = None, overwrite: bool = False, resume: bool = False,
               bounds: str | tuple[float, float] = "auto", settings: dict[str, Any] | None = None,
               init_seed: int | None = None, warm_start: bool = False, lr_scale: float | None = None,
               refit: bool = False, device: str = "cpu", score_heldout: bool = True, source_data: Table | None = None,
               guard_by: str = "loss", log=print) -> Path:
    """Transfer the model in run folder ``source`` to ``data`` under ``strategy`` (or ``auto``).

    The target's x columns get their own transform (its constant and bounded columns); where
    its modelled columns differ from the source's, warm starts copy only the layers whose shapes
    agree. ``init_seed`` seeds the target's fresh weights (scratch's model, freeze-shared's head,
    LoRA's adapters) apart from ``train``'s seed; ``warm_start`` starts freeze-shared's head from
    the source's weights (the paper's MNIST -> USPS recipe; :func:`gentransfer.transfer`);
    ``lr_scale`` is the factor on the learning rate (unset: the strategy's own, 0.3 for a warm
    start; 1.0 trains every strategy at one rate); ``device`` and ``score_heldout`` as in
    :func:`fit_source`. ``auto`` (the negative-transfer guard, :mod:`gentransfer.transfer.guard`)
    fits every candidate on 80% of the rows, keeps each as a run folder in ``candidates/NAME``, and
    keeps the one its rule chooses (``guard_by``: ``loss``, each family's held-out loss; ``w1``, on
    tables, the W1 of each candidate's draws to the validation rows, :mod:`gentransfer.pipeline.validation`,
    the lowest kept); with ``refit`` it then fits the chosen strategy again on every
    target row, for as many passes over the data as the chosen candidate's kept step had made, with
    no rows held out (:func:`_refit`; tables and images; the held-out check is then the candidate's).
    ``pooled`` fits one fresh model on ``source_data`` (the source's rows, the target's columns) and
    ``data`` together, a domain indicator among its conditions (:mod:`gentransfer.pipeline.pooled`).
    """
    _, cfg = _settings(None, train, init_seed)
    where = device_of(device)
    src = SourceRun(Path(source), *RunFolder(source).read())
    kind = src.kind
    data = kind.check_target(src, data)
    check_choice(strategy, warm_start=warm_start, kind=kind.source_kind(src.model), where=f"the source in {source}")
    n = len(data.x)
    if refit and strategy != GUARD:
        raise ConfigError(f"--refit refits the strategy --strategy auto chooses; {strategy} is fitted once",
                          "drop --refit, or pass --strategy auto")
    _check_guard_by(guard_by, strategy, kind)
    if strategy == GUARD:
        guard_rows(n, cfg.seed, data.source)
    pooled = strategy != GUARD and get_strategy(strategy).pooled
    if source_data is not None and not pooled:
        raise ConfigError(f"--source-data gives a pooled model the source's rows; {strategy} takes the source's "
                          "model", "drop --source-data, or pass --strategy pooled")
    n_source = 0
    if pooled:
        scaling, both = pooled_scaling(kind, src, source_data, data, bounds)
        n_source = len(both) - n
        x, z, zc = pooled_rows(scaling, both, n_source, cfg.seed)
        dims = {"x_dim": scaling.x.model_width, "zc_dim": scaling.width("zc", both)}
    else:
        scaling = kind.target_scaling(src.scaling, data, bounds)
        x, (z, zc) = scaling.training_rows(data, cfg.seed), scaling.conditions(data)
        dims = kind.target_dims(scaling, data)
    names = kind.candidates(src.model) if strategy == GUARD else [strategy]

    def build(name: str) -> Any:  # a fresh target of strategy ``name`` (seeded: a refit starts where its candidate did)
        torch.manual_seed(cfg.seed if init_seed is None else init_seed)
        warm = True if warm_start and name == "freeze-shared" else None  # None: the strategy's own default
        return transfer(src.model, name, warm_start=warm, lr_scale=lr_scale, **dims)

    targets = {name: build(name) for name in names}  # built (and their inputs checked) before anything is written
    targets[names[0]].validate(x, z, zc)
    check_rows(len(guard_rows(n, cfg.seed)[0]) if strategy == GUARD else len(x), cfg.val_fraction)
    final = check_out(out, overwrite=overwrite, resume=resume)
    config = {**(settings or {}), "role": "target", "source": str(source), "strategy": strategy, "guard_by": guard_by,
              "family": src.config.get("family"), "train": asdict(cfg), "columns": scaling.x.describe(),
              "classes": src.config.get("classes"), "column_order": list(data.header) if data.header else None}
    if pooled:
        config["pooled"] = {"source_data": source_data.source, "source_rows": n_source, "target_rows": n}
    _log_columns(scaling.x, data, log)
    what = f"auto fits {', '.join(names)} on 80% of the rows and keeps one" if strategy == GUARD else \
        f"pooled target on {n_source:,} source and {n:,} target rows (a domain indicator in zc)" if pooled else \
        f"{strategy} target"
    _say_plan(what, list(targets.values()), len(guard_rows(n, cfg.seed)[0]) if strategy == GUARD else len(x), cfg, log)
    refitted = None
    with run_transaction(final, overwrite=overwrite, resume=resume) as run:
        for model in targets.values():
            model.to(where)
        if strategy == GUARD:
            target, metrics, (train_rows, val_rows) = _guard(run, kind, targets, (x, z, zc), cfg, resume, config,
                                                             scaling, log, data if guard_by == "w1" else None, device)
            if refit:
                refitted = _refit(run, kind, build, metrics, (x, z, zc), cfg, resume, log, where)
        else:
            target = targets[strategy]
            _say_adapters(target, log)
            result, stages = kind.fit(target, x, z, zc, cfg, run.checkpoints, resume, refine=True)
            metrics = {"strategy": strategy, **result.to_dict(), **stages}
            train_rows, val_rows = (target_split(n_source, n, cfg.val_fraction, cfg.seed) if pooled
                                    else split_rows(n, cfg.val_fraction, cfg.seed))
        metrics["heldout_check"] = None
        if score_heldout:
            metrics["heldout_check"] = heldout_check(target, scaling, data, val_rows, train_rows, cfg.seed)
            _say_check(metrics["heldout_check"], log)
        if refitted is not None:  # the check above scored the guard's candidate
            target, metrics["refit"] = refitted
        run.write(target, config, scaling, metrics)
    return final


def _check_size(kind: Kind, family: str, arch: ModelSettings, data: Table, scaling: Scaling) -> None:
    """Refuse a model of more than ``MAX_PARAMETERS`` parameters, counted on PyTorch's meta device
    (shapes only: nothing is allocated)."""
    with torch.device("meta"):
        n = sum(p.numel() for p in kind.build(family, arch, data, scaling).parameters())
    if n > MAX_PARAMETERS:
        raise ConfigError(f"these model settings make {n:,} parameters, more than {MAX_PARAMETERS:,} (2^31; "
                          f"{4 * n / 2**30:,.0f} GiB of float32 weights before the optimiser's copies)",
                          "pass a smaller --hidden, --embed-dim or --block-out-channels, or fewer layers")


def _check_guard_by(guard_by: str, strategy: str, kind: Kind) -> None:
    if guard_by not in ("loss", "w1"):
        raise ConfigError(f"unknown --guard-by {guard_by!r}", "pass loss or w1")
    if guard_by == "w1" and strategy != GUARD:
        raise ConfigError(f"--guard-by w1 is how auto chooses; {strategy} is fitted as asked",
                          "drop --guard-by, or pass --strategy auto")
    if guard_by == "w1" and kind.name != "table":
        raise ConfigError(f"--guard-by w1 scores table rows; this {kind.name} target's guard chooses by its own "
                          "held-out loss" + (" (W1 already)" if kind.name == "latent" else ""), "drop --guard-by")


def _guard(run: RunFolder, kind: Kind, targets: dict[str, Any], rows: tuple, cfg: TrainSettings, resume: bool,
           config: dict[str, Any], scaling: Scaling, log,
           w1_data: Table | None = None, device: str = "cpu"
           ) -> tuple[Any, dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """``auto``: every candidate fitted on the guard's rows into a run folder of its own, the choice
    reported; returns the chosen model, its metrics and the rows the held-out check scores. With
    ``w1_data`` (every target row, ``--guard-by w1``) the candidates are scored by W1 on the
    validation rows (:func:`~gentransfer.pipeline.validation.validation_w1_rows`)."""
    from gentransfer.pipeline.validation import scored_rows, validation_w1_rows

    def fit_candidate(name: str, model: Any, x: np.ndarray, z: Any, zc: Any) -> dict[str, Any]:
        folder = run.candidate(name)
        result, stages = kind.fit(model, x, z, zc, cfg, folder.checkpoints, resume, refine=True)
        metrics = {"strategy": name, **result.to_dict(), **stages, "heldout_check": None}
        folder.write(model, {**config, "strategy": name, "candidate_of": GUARD}, scaling, metrics)
        return metrics

    def score(name: str, model: Any, val_rows: np.ndarray) -> np.ndarray:
        try:
            return validation_w1_rows(run.candidate(name).path, w1_data, val_rows, seed=cfg.seed, device=device)
        except CheckpointError as err:  # it samples NaN: it loses every row, as a NaN likelihood does
            log(f"note: {name} could not be scored ({err.problem}); it counts as the worst")
            return np.full(len(scored_rows(val_rows, cfg.seed)), np.inf)

    guard = run_guard(targets, *rows, seed=cfg.seed, fit_candidate=fit_candidate,
                      score=score if w1_data is not None else None)
    run.write_guard_report(guard.choice.to_dict())
    units = "w1" if w1_data is not None else "latent" if guard.choice.rule == "lowest" else config.get("family")
    log(guard.choice.table(LOSS_UNITS.get(units)))
    chosen = guard.choice.chosen
    metrics = {**guard.fits[chosen], "strategy": chosen, "auto": guard.choice.to_dict()}
    metrics.pop("heldout_check")
    return targets[chosen], metrics, (guard.fit_rows, guard.val_rows)


def _refit(run: RunFolder, kind: Kind, build, chosen: dict[str, Any], rows: tuple, cfg: TrainSettings,
           resume: bool, log, where: torch.device) -> tuple[Any, dict[str, Any]] | None:
    """The guard's choice fitted again on every target row: the candidate saw 64% of them (80% fitted
    on, a fifth of that held out for early stopping). As many passes over the rows as the candidate's
    kept step had made, no early stopping, the weight average kept. ``None`` on the latent route
    (its stages stop on held-out rows of their own)."""
    from dataclasses import replace

    if kind.name == "latent":
        log("refit: the latent route keeps the guard's candidate (its stages need held-out rows)")
        return None
    name, x = chosen["strategy"], rows[0]
    steps = max(1, round(chosen["best_step"] * len(x) / max(1, chosen["n_train"])))
    model = build(name).to(where)  # ``build(name)``: a fresh target of that strategy, as the guard's was
    log(f"refit: {name} on all {len(x)} target rows for {steps} steps (the candidate kept step "
        f"{chosen['best_step']} on {chosen['n_train']} rows)")
    result, _ = kind.fit(model, *rows, replace(cfg, steps=steps, val_fraction=0.0), run.checkpoints,
                         resume, refine=True)
    return model, {"steps": result.steps, "rows": len(x), "candidate_best_step": chosen["best_step"],
                   "candidate_rows": chosen["n_train"], "seconds": round(result.seconds, 3)}


def _say_plan(what: str, models: list[Any], rows: int, cfg: TrainSettings, log) -> None:
    """What a fit is about to do, before it starts: the model, its trainable parameters, the budget."""
    trainable = sum(p.numel() for m in models for p in m.parameters() if p.requires_grad)
    held = round(cfg.val_fraction * rows)
    stop = f"early stopping on {held:,} held-out rows every {cfg.eval_every} steps" if held else "no early stopping"
    each = " in all, each" if len(models) > 1 else ""
    log(f"plan: {what}: {trainable:,} trainable parameters{each} up to {cfg.steps:,} steps of "
        f"{min(cfg.batch_size, rows)} rows on {rows - held:,} rows, {stop}")


def _say_adapters(target: Any, log) -> None:
    if target.transfer_plan.adapters:
        a = target.transfer_plan.adapters
        log(f"lora: rank-{a['rank']} adapters on {len(a['targets'])} layers of the head (by default "
            f"1/{WIDTH_PER_RANK} of their median width, at least {MIN_RANK}); every source weight frozen")


def _log_columns(columns: Any, data: Table, log) -> None:
    """Say what the columns are: a typed table's types (as SDV's metadata detection prints them),
    then the constant and bounded columns found."""
    if isinstance(columns, PixelScale):
        return
    if isinstance(columns, MixedTransform):
        log("x columns: " + "; ".join(s.describe(data.x[:, j]) for j, s in enumerate(columns.specs)))
    d = columns.describe()
    if d["constant_columns"] or d["bounded_columns"]:
        log(f"x: {len(d['constant_columns'])} constant columns left out (restored exactly), "
            f"{len(d['bounded_columns'])} bounded columns kept in range, {d['modelled_columns']} columns modelled")


def _say_check(check: dict[str, Any] | None, log) -> None:
    if check is None:
        log("held-out check: too few held-out rows to score")
        return
    against = (f"{check['floor']:.4f} ({check['ratio']:.2f}x)" if check["ratio"] is not None
               else "0: cannot compare (the held-out rows repeat training rows exactly)")
    log(f"held-out check: W1 {check['w1']:.4f} on {check['rows']} held-out rows, real-vs-real floor {against}; "
        f"{check['outside_range']:.1%} of sampled values outside the data's range")
    if check["ratio"] is not None and few_rows_note(check["rows"]):
        log(f"note: {few_rows_note(check['rows'])}")
    if check["ratio"] is not None and check["ratio"] > FAR_ABOVE_FLOOR:
        log(f"warning: the model is far above the floor ({check['ratio']:.1f}x): it has not learnt the data "
            "well; try more --steps, a larger model (--hidden), or check the data")
