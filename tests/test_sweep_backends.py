"""The same sweep gives the same rows on the local (joblib) and the Dask backend."""

from gentransfer.experiments.sweep import run_sweep
from gentransfer.simulation import conditional
from gentransfer.simulation.conditional import ConditionalStudy

TINY = {"steps": 20, "eval_every": 10, "batch_size": 64}


def _run(path, **backend):
    study = ConditionalStudy(designs=["default"], families=["flow"], strategies=["scratch", "freeze-shared"],
                             n_source=[200], n_target=60, seeds=[0, 1], flow={"hidden": 8}, source_train=TINY,
                             target_train=TINY, n_conditions=4, per_condition=8)
    rows = run_sweep(conditional.build_jobs(study), conditional.run_job, path, conditional.COLUMNS,
                     conditional.ROW_KEYS, conditional.job_rows, progress=False, **backend)
    drop = {"fit_seconds", "source_seconds"}  # wall times differ; everything else must not
    return sorted(tuple((k, v) for k, v in r.items() if k not in drop) for r in rows)


def test_local_and_dask_backends_give_the_same_rows(tmp_path):
    local = _run(tmp_path / "local.csv", n_jobs=2, backend="local")
    dask = _run(tmp_path / "dask.csv", n_jobs=2, backend="dask")  # a 2-worker local cluster, shut down after
    assert len(local) == 4 and local == dask


def test_a_killed_worker_is_one_clear_error_and_finished_rows_stay(tmp_path):
    import os
    import signal
    import time

    import pytest

    from gentransfer.errors import GentransferError

    def job_fn(job):  # nested: pickled by value into the workers
        if job["seed"] == 1:
            time.sleep(3)  # let the other job finish first
            os.kill(os.getpid(), signal.SIGKILL)
        return [{"seed": job["seed"], "value": 0.5}]

    path = tmp_path / "rows.csv"
    with pytest.raises(GentransferError, match="sweep worker was killed.*run the same command again"):
        run_sweep([{"seed": 0}, {"seed": 1}], job_fn, path, ["seed", "value"], ["seed"],
                  lambda job: [{"seed": job["seed"]}], n_jobs=2, progress=False)
    assert path.read_text().splitlines() == ["seed,value", "0,0.5"]
