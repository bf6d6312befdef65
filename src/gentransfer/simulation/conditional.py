"""The conditional simulation study: error of each strategy against the source size ``n_s``.

For every (design, family, seed): one ``scratch`` fit on the target data alone (``n_s = 0``),
and for every ``n_s`` a source fit followed by the transfer strategies. The target data are
the same for all strategies and sizes of a seed (paired comparisons), and source samples are
nested (the first ``n_s`` rows of one draw), so curves over ``n_s`` are smooth.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from gentransfer.experiments import Experiment
from gentransfer.experiments.sweep import strategy_jobs
from gentransfer.families import FAMILIES
from gentransfer.simulation.designs import get_design
from gentransfer.simulation.evaluate import evaluate_conditional
from gentransfer.simulation.settings import ConditionalStudy
from gentransfer.training import fit
from gentransfer.transfer import transfer

__all__ = ["ConditionalStudy", "COLUMNS", "ROW_KEYS", "EXPERIMENT", "build_jobs", "run_job"]
COLUMNS = ["design", "family", "strategy", "n_s", "n_t", "seed", "KL", "KL_se", "TV", "TV_se", "W1",
           "W1_se", "W1_floor", "fit_seconds", "source_seconds", "steps"]
ROW_KEYS = ["design", "family", "strategy", "n_s", "seed"]


def build_jobs(study: ConditionalStudy) -> list[dict[str, Any]]:
    """One job per (design, family, seed, n_s) and one scratch job per (design, family, seed)."""
    study.check()
    settings = study.to_dict()
    return [job for design in study.designs for family in study.families for seed in study.seeds
            for job in strategy_jobs({"design": design, "family": family, "seed": seed, "settings": settings},
                                     study.strategies, study.n_source)]


def job_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"design": job["design"], "family": job["family"], "strategy": s, "n_s": job["n_s"],
             "seed": job["seed"]} for s in job["strategies"]]


def run_job(job: dict[str, Any], run_dir: str | None = None) -> list[dict[str, Any]]:
    """Fit (source and) target models for one job and score them against the true density."""
    s = job["settings"]
    design, seed, family = get_design(job["design"]), int(job["seed"]), job["family"]
    cls, arch = FAMILIES[family], dict(s[family])
    # Target data depend on the seed only: every strategy and n_s sees the same target sample.
    xt, zt, zct = design.sample_target(s["n_target"], np.random.default_rng([seed, 1]))
    torch.manual_seed(seed)
    source_seconds = 0.0
    if job["n_s"] > 0:
        xs, zs, zcs = design.sample_source(max(s["n_source"]), np.random.default_rng([seed, 2]))
        n = job["n_s"]
        source = cls(x_dim=design.x_dim_source, z_dim=design.z_dim, zc_dim=design.zc_dim_source,
                     embed_dim=s["embed_dim"], **arch)
        source_seconds = fit(source, xs[:n], zs[:n], zcs[:n], train={**s["source_train"], "seed": seed}).seconds
    else:
        source = cls(x_dim=design.x_dim_source, z_dim=design.z_dim, zc_dim=design.zc_dim_source,
                     embed_dim=s["embed_dim"], **arch)  # only its architecture is used by scratch
    rows = []
    for strategy in job["strategies"]:
        torch.manual_seed(seed + 7919)
        start = time.perf_counter()
        target = transfer(source, strategy, x_dim=design.x_dim_target, zc_dim=design.zc_dim_target)
        result = fit(target, xt, zt, zct, train={**s["target_train"], "seed": seed})
        fit_seconds = time.perf_counter() - start
        scores = evaluate_conditional(target, design, n_conditions=s["n_conditions"],
                                      per_condition=s["per_condition"], seed=seed)
        rows.append({"design": design.name, "family": family, "strategy": strategy, "n_s": job["n_s"],
                     "n_t": s["n_target"], "seed": seed, **scores, "fit_seconds": round(fit_seconds, 3),
                     "source_seconds": round(source_seconds, 3), "steps": result.steps})
    return rows


def _in_study(study: ConditionalStudy, row: dict[str, Any]) -> bool:
    return row["design"] in study.designs and row["family"] in study.families


EXPERIMENT = Experiment(
    name="conditional", settings=ConditionalStudy, build_jobs=build_jobs, job_rows=job_rows, run_job=run_job,
    columns=COLUMNS, row_keys=ROW_KEYS, group=("design", "family"), metrics=("KL", "TV", "W1"),
    figures="design", panels="family", selects=_in_study)
