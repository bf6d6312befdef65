"""Sweep machinery shared by every experiment (the simulation studies and the digits benchmark).

A sweep is a list of independent jobs (plain dicts). Each job returns result rows; rows are
appended to a CSV as jobs finish, so a sweep stopped part-way keeps its finished rows and, run
again, skips the jobs whose rows are already there.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from joblib import Parallel, delayed
from joblib.externals.loky.process_executor import TerminatedWorkerError
from tqdm.auto import tqdm

from gentransfer.errors import ConfigError, GentransferError

__all__ = ["read_rows", "run_sweep", "job_key", "check_choices", "strategy_jobs"]

Row = dict[str, Any]


def check_choices(**axes: tuple[Sequence[str], Iterable[str]]) -> None:
    """Raise a ConfigError for an empty axis or a value outside its allowed names."""
    for name, (values, allowed) in axes.items():
        bad = sorted(set(values) - set(allowed))
        if bad or not values:
            raise ConfigError(f"unknown or no {name}: {bad or list(values)}", f"choose from {sorted(allowed)}")


def strategy_jobs(base: dict[str, Any], strategies: Sequence[str], n_source: Iterable[int]) -> list[dict[str, Any]]:
    """The jobs of one setting: scratch once (``n_s = 0``), the transfer strategies once per ``n_s``.

    A transfer job fits its source once and every strategy from it; scratch needs no source.
    """
    others = [s for s in strategies if s != "scratch"]
    jobs = [{**base, "n_s": 0, "strategies": ["scratch"]}] if "scratch" in strategies else []
    return jobs + ([{**base, "n_s": n, "strategies": others} for n in n_source] if others else [])


def job_key(values: dict[str, Any], keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(values[k]) for k in keys)


def read_rows(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of a results CSV; a last line cut off by a kill is dropped."""
    p = Path(path)
    if not p.is_file():
        return []
    text = p.read_text()
    if not text.endswith("\n"):  # every complete row ends with a newline
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [r for r in reader if None not in r.values() and None not in r]


def _append(path: Path, rows: Iterable[Row], columns: Sequence[str]) -> None:
    from gentransfer.training.distributed import is_main

    if not is_main():  # under torchrun every rank runs the job; one writes its rows
        return
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def _repair(path: Path, rows: list[Row], columns: Sequence[str]) -> None:
    """Rewrite the CSV from its valid rows if a kill left a torn last line (atomic rename)."""
    if not path.is_file() or path.read_bytes().endswith(b"\n"):
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    _append(tmp, rows, columns)
    if not rows:
        tmp.write_text(",".join(columns) + "\n")
    os.replace(tmp, path)


def _call(job_fn: Callable[[dict[str, Any]], list[Row]], job: dict[str, Any]) -> list[Row]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per job: the parallelism is across jobs (and rows match)
    try:
        return job_fn(job)
    finally:
        torch.set_num_threads(threads)


def run_sweep(jobs: Sequence[dict[str, Any]], job_fn: Callable[[dict[str, Any]], list[Row]],
              csv_path: str | os.PathLike[str], columns: Sequence[str], row_keys: Sequence[str],
              job_rows: Callable[[dict[str, Any]], list[dict[str, Any]]], *, n_jobs: int = 1,
              progress: bool = True, backend: str = "local", scheduler: str | None = None) -> list[Row]:
    """Run the jobs not yet in ``csv_path`` (in parallel with joblib) and return all rows.

    Args:
        jobs: job specifications (picklable dicts).
        job_fn: ``job -> rows``; must be a module-level function.
        csv_path: results file, created or appended to.
        columns: CSV columns.
        row_keys: columns that identify a row (e.g. design, family, strategy, n_s, seed).
        job_rows: ``job -> key dicts`` of the rows a job will produce (to skip finished jobs).
        n_jobs: worker processes (1 runs in this process; with ``dask`` and no scheduler, the
            size of the local cluster started for the sweep).
        progress: show a progress bar over jobs.
        backend: ``"local"`` (joblib) or ``"dask"`` (Dask distributed: a cluster's scheduler at
            ``scheduler``, e.g. ``tcp://host:8786``, or a local cluster if ``None``). Jobs are
            seeded, so the rows are the same whatever the backend.
    """
    path = Path(csv_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    finished = read_rows(path)
    _repair(path, finished, columns)
    done = {job_key(r, row_keys) for r in finished}
    todo = [j for j in jobs if not all(job_key(k, row_keys) in done for k in job_rows(j))]
    bar = tqdm(total=len(todo), disable=not progress, desc=f"sweep jobs ({backend})")
    if backend == "dask":
        _run_dask(todo, job_fn, path, columns, bar, n_jobs, scheduler)
    elif backend == "local":
        if n_jobs == 1:
            results: Iterable[list[Row]] = (_call(job_fn, j) for j in todo)
        else:
            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_call)(job_fn, j) for j in todo
            )
        try:
            for rows in results:
                _append(path, rows, columns)
                bar.update(1)
        except TerminatedWorkerError:
            raise GentransferError(f"a sweep worker was killed (out of memory, or a signal); the finished rows "
                                   f"are kept in {path}", "run the same command again to resume, with fewer "
                                   "--jobs if memory is short") from None
    else:
        raise ConfigError(f"unknown sweep backend {backend!r}", "use --backend local or --backend dask")
    bar.close()
    return read_rows(path)


def _run_dask(todo, job_fn, path: Path, columns, bar, n_jobs: int, scheduler: str | None) -> None:
    """Jobs as Dask futures; rows are appended by this process as each future completes."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        from gentransfer.errors import ConfigError

        raise ConfigError("the dask backend needs Dask distributed",
                          "pip install 'gentransfer[cluster]' (or dask[distributed])") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=max(1, n_jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = [client.submit(_call, job_fn, job, pure=False) for job in todo]
        for future in as_completed(futures):
            _append(path, future.result(), columns)
            bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
