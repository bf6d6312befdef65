"""The unconditional simulation study: W1 of each route against the source size ``n_s``.

Routes, per (design, family, d, seed):

* ``latent / freeze-shared`` — the SEC estimator: ``P_U`` from a source latent model, frozen;
  only the target's autoencoder (decoder ``g_t``) and noise level are fitted on the target,
  then refined by maximum likelihood through the frozen prior.
* ``latent / scratch`` — the same pipeline with ``P_U`` learned from the target alone.
* ``plain / scratch`` — the plain flow or diffusion fitted on ``X_t`` directly.
* ``plain / finetune`` — a plain model pre-trained on ``X_s`` and fine-tuned on ``X_t``
  (the practice of the digit-3 example; needs ``d_s = d_t``, which the designs keep).

The main grid runs at ``d = 8``; the ``d`` sweep repeats the largest ``n_s`` at other ``d``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from gentransfer.experiments import Experiment
from gentransfer.experiments.sweep import strategy_jobs
from gentransfer.families import FAMILIES
from gentransfer.latent import LatentModel, fit_latent
from gentransfer.metrics import wasserstein1
from gentransfer.simulation.settings import ROUTES, UnconditionalStudy
from gentransfer.simulation.unconditional_designs import get_unconditional_design
from gentransfer.training import fit
from gentransfer.transfer import transfer

__all__ = ["UnconditionalStudy", "COLUMNS", "ROW_KEYS", "build_jobs", "job_data", "latent_source",
           "fit_latent_target", "run_job", "job_rows", "EXPERIMENT"]

COLUMNS = ["design", "family", "model", "strategy", "n_s", "n_t", "d", "seed", "W1", "W1_floor",
           "fit_seconds", "source_seconds"]
ROW_KEYS = ["design", "family", "model", "strategy", "n_s", "d", "seed"]
def build_jobs(study: UnconditionalStudy) -> list[dict[str, Any]]:
    study.check()
    settings = study.to_dict()
    jobs = []
    for design in study.designs:
        for family in study.families:
            for seed in study.seeds:
                sizes = {study.d: study.n_source}  # the d sweep: other d at the largest n_s only
                if design == "default" and seed in study.seeds[: study.d_sweep_seeds]:
                    sizes.update({d: [max(study.n_source)] for d in study.d_sweep if d != study.d})
                for d in sorted(sizes):
                    base = {"design": design, "family": family, "seed": seed, "d": d, "settings": settings}
                    jobs += strategy_jobs(base, study.strategies, sizes[d])
    return jobs


def job_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"design": job["design"], "family": job["family"], "model": model, "strategy": strategy,
             "n_s": job["n_s"], "d": job["d"], "seed": job["seed"]}
            for s in job["strategies"] for model, strategy in ROUTES[s]]


def job_data(job: dict[str, Any]):
    """A job's design and data: target rows, fresh evaluation rows, floor rows, source rows
    (``None`` when ``n_s = 0``), each from its own seeded stream."""
    s, seed = job["settings"], int(job["seed"])
    design = get_unconditional_design(job["design"], int(job["d"]))
    xt = design.sample_target(s["n_target"], np.random.default_rng([seed, 1]))
    x_eval = design.sample_target(s["n_eval"], np.random.default_rng([seed, 3]))
    x_floor = design.sample_target(s["n_eval"], np.random.default_rng([seed, 4]))
    xs = None
    if job["n_s"] > 0:
        xs = design.sample_source(max(s["n_source"]), np.random.default_rng([seed, 2]))[: job["n_s"]]
    return design, xt, x_eval, x_floor, xs


def latent_source(job: dict[str, Any], xs: Any) -> LatentModel:
    """The latent routes' source: a fresh :class:`LatentModel` of the job's family, fitted on the
    source rows ``xs`` (left unfitted when ``xs`` is ``None``: the scratch route)."""
    s, family = job["settings"], job["family"]
    model = LatentModel(x_dim=int(job["d"]), latent_dim=s["latent_dim"], prior_family=family,
                        prior_config=s["prior"][family])
    if xs is not None:
        fit_latent(model, xs, autoencoder_train=s["autoencoder_train"], prior_train=s["prior_train"][family],
                   seed=int(job["seed"]))
    return model


def fit_latent_target(job: dict[str, Any], source: LatentModel, route: str, xt: Any, **starts: Any) -> LatentModel:
    """``transfer(source, route)`` fitted on the target rows with the study's settings; ``starts``
    (``restarts``, ``start``, ``select``) override the study's ``target_restarts`` / ``target_select``."""
    s, family = job["settings"], job["family"]
    starts = {"restarts": s.get("target_restarts", 1), "select": s.get("target_select", "w1"), **starts}
    target = transfer(source, route)
    fit_latent(target, xt, autoencoder_train=s["autoencoder_train"], prior_train=s["prior_train"][family],
               seed=int(job["seed"]), likelihood_train=s.get("likelihood_train"), **starts)
    return target


def run_job(job: dict[str, Any], run_dir: str | None = None) -> list[dict[str, Any]]:
    s, seed, family, d = job["settings"], int(job["seed"]), job["family"], int(job["d"])
    design, xt, x_eval, x_floor, xs = job_data(job)
    floor = wasserstein1(x_eval, x_floor)
    plain_cfg, prior_train = s["prior"][family], s["prior_train"][family]

    def new_plain():
        return FAMILIES[family](x_dim=d, **plain_cfg)

    def score(model) -> float:
        gen = torch.Generator().manual_seed(seed + 99)
        return wasserstein1(model.sample(n=s["n_eval"], generator=gen), x_eval)

    def row(model_kind: str, strategy: str, w1: float, seconds: float, source_seconds: float):
        return {"design": design.name, "family": family, "model": model_kind, "strategy": strategy,
                "n_s": job["n_s"], "n_t": s["n_target"], "d": d, "seed": seed, "W1": w1, "W1_floor": floor,
                "fit_seconds": round(seconds, 3), "source_seconds": round(source_seconds, 3)}

    rows = []
    for strategy in job["strategies"]:
        for model_kind, route in ROUTES[strategy]:
            torch.manual_seed(seed)
            source_seconds = 0.0
            if model_kind == "latent":
                t0 = time.perf_counter()
                source = latent_source(job, None if route == "scratch" else xs)
                source_seconds = 0.0 if route == "scratch" else time.perf_counter() - t0
                t0 = time.perf_counter()
                target = fit_latent_target(job, source, route, xt)
            else:
                source = new_plain()
                if route != "scratch":
                    t0 = time.perf_counter()
                    fit(source, xs, train={**prior_train, "seed": seed})
                    source_seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
                target = transfer(source, route)
                fit(target, xt, train={**prior_train, "seed": seed})
            rows.append(row(model_kind, route, score(target), time.perf_counter() - t0, source_seconds))
    return rows


def _route(row: dict[str, Any]) -> str:
    return f"{row['model']}/{row['strategy']}"


def _in_study(study: UnconditionalStudy, row: dict[str, Any]) -> bool:
    return row["design"] in study.designs and row["family"] in study.families


def _main_grid(study: UnconditionalStudy, row: dict[str, Any]) -> bool:
    return int(row["d"]) == study.d


EXPERIMENT = Experiment(
    name="unconditional", settings=UnconditionalStudy, build_jobs=build_jobs, job_rows=job_rows, run_job=run_job,
    columns=COLUMNS, row_keys=ROW_KEYS, group=("design", "family", "d"), metrics=("W1",), figures="design",
    panels="family", arm=_route, baselines=("latent/scratch", "plain/scratch"), selects=_in_study,
    plotted=_main_grid)
