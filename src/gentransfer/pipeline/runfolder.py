"""A run folder: every file of a ``fit-source`` / ``fit-target`` run is read and written here.

A finished run folder holds

- ``config.json``: the resolved settings (``role``: source or target; ``strategy``; ``family``; the
  training settings; the recipe a preset fitted it by), written last: a folder with a config whose
  ``role`` is set is a finished run;
- ``model/``: the model (``save_pretrained``: JSON config, transfer plan and safetensors weights);
- ``scaling.json``: the scales of x, z and zc (:class:`~gentransfer.pipeline.scaling.Scaling`);
- ``metrics.json``: how the fit went (steps, the step kept, the held-out check, the guard's choice);
- ``checkpoints/``: the resumable training state;
- for ``auto``, ``transfer_report.json`` and ``candidates/NAME/``: every candidate as a run folder
  of its own.

A run is a transaction (:func:`run_transaction`): everything is validated before the disk is
touched, the run is built in a hidden sibling folder ``.<name>.partial`` (where a killed run's
checkpoints wait for ``--resume``), and only a finished run is moved into place, replacing an old
one under ``--overwrite`` in two renames. A lock keeps two runs out of one folder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from gentransfer.config import load_pretrained
from gentransfer.errors import CheckpointError, ConfigError, GentransferError
from gentransfer.files import write_json
from gentransfer.pipeline.scaling import Scaling

__all__ = ["RunFolder", "check_out", "run_transaction", "staging_folder", "fit_once"]

FIX = "point to a folder written by fit-source or fit-target"


class RunFolder:
    """The files of one run (a finished one, or one being built in its staging folder).

    Example:
        >>> RunFolder("no-such-run").is_finished()
        False
    """

    CONFIG, SCALING, METRICS, MODEL = "config.json", "scaling.json", "metrics.json", "model"
    CHECKPOINTS, CANDIDATES, GUARD_REPORT = "checkpoints", "candidates", "transfer_report.json"

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # -- reading -----------------------------------------------------------------------------
    def is_finished(self) -> bool:
        """Does the folder hold a finished run (its config names a role)?"""
        try:
            return isinstance(json.loads((self.path / self.CONFIG).read_text()).get("role"), str)
        except (OSError, ValueError, AttributeError):
            return False

    def _json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text())
        except FileNotFoundError:
            raise CheckpointError(f"{self.path} is not a gentransfer run folder (no {name})", FIX) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{self.path}: a run file is not valid JSON ({err})", "re-create the run") from None

    def config(self) -> dict[str, Any]:
        config = self._json(self.CONFIG)
        if not isinstance(config, dict):
            raise CheckpointError(f"{self.path / self.CONFIG} is not a run's settings", "re-create the run")
        return config

    def metrics(self) -> dict[str, Any]:
        return self._json(self.METRICS)

    def is_image_run(self) -> bool:
        """Does the folder hold an image model? ``False`` when unreadable: :meth:`read` says why."""
        try:
            x = self._json(self.SCALING).get("x")
        except (GentransferError, AttributeError):
            return False
        return isinstance(x, dict) and "image_shape" in x

    def read(self) -> tuple[Any, dict[str, Any], Scaling]:
        """The run's model, settings and scales, each checked (a one-line error for a folder that is
        not a run, a broken file, or NaN weights)."""
        for name in (self.CONFIG, self.SCALING):
            if not (self.path / name).is_file():
                raise CheckpointError(f"{self.path} is not a gentransfer run folder (no {name})", FIX)
        config, scaling = self.config(), self._json(self.SCALING)
        model = load_pretrained(self.path / self.MODEL)
        from gentransfer.pipeline.kinds import is_run_model  # the families a run holds

        if not is_run_model(model):
            raise CheckpointError(f"{self.path} holds a {type(model).__name__}, not a model of the CLI's families", FIX)
        if not all(torch.isfinite(t).all() for t in model.state_dict().values()):
            raise CheckpointError(f"the model in {self.path} has NaN or inf weights", "re-create the run")
        return model, config, Scaling.from_dict(scaling, model, str(self.path / self.SCALING))

    def strategy(self) -> str:
        """The strategy the run's model was fitted with: ``source`` for a source run, an ``auto`` run's
        choice (``"finetune"``), else the one asked for."""
        return self.strategy_label().removeprefix("auto -> ")

    def strategy_label(self) -> str:
        """The strategy as a user should read it: ``"auto -> finetune"`` for an ``auto`` run."""
        config = self.config()
        if config.get("role") != "target":
            return "source"
        if config.get("strategy") == "auto":
            return f"auto -> {self.metrics().get('strategy', 'auto')}"
        return str(config.get("strategy"))

    def candidates(self) -> dict[str, RunFolder]:
        """The candidates an ``auto`` run fitted, by strategy name (each a run folder)."""
        folder = self.path / self.CANDIDATES
        return {p.name: RunFolder(p) for p in sorted(folder.iterdir()) if p.is_dir()} if folder.is_dir() else {}

    # -- writing -----------------------------------------------------------------------------
    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    def candidate(self, name: str) -> RunFolder:
        return RunFolder(self.path / self.CANDIDATES / name)

    def write(self, model: Any, config: dict[str, Any], scaling: Scaling, metrics: dict[str, Any]) -> None:
        """Write a finished run; the config last, so a folder with one is complete."""
        model.save_pretrained(self.path / self.MODEL)
        write_json(self.path / self.SCALING, scaling.to_dict())
        write_json(self.path / self.METRICS, metrics)
        write_json(self.path / self.CONFIG, config)

    def write_guard_report(self, report: dict[str, Any]) -> None:
        write_json(self.path / self.GUARD_REPORT, report)


def staging_folder(final: Path) -> Path:
    """Where a run into ``final`` is built, and where a killed one waits for ``--resume``."""
    return final.parent / f".{final.name}.partial"


def check_out(out: str | os.PathLike[str] | None, *, overwrite: bool, resume: bool) -> Path:
    """Validate a run's ``--out`` without touching the disk; returns it as an absolute path.

    ``--overwrite`` replaces only a finished run (never the current folder, or one that holds
    other files); ``--resume`` continues only a killed run (its ``.<name>.partial`` sibling).
    """
    if out is None or str(out).strip() == "":
        raise ConfigError("--out is empty (an unset shell variable?)", "pass the folder to write the run into")
    final = Path(out).expanduser().absolute()
    cwd = Path.cwd().absolute()
    if final == cwd or final in cwd.parents or final == Path(final.anchor):
        raise ConfigError(f"--out {out} is the current folder or one of its parents",
                          "pass a new folder for the run, e.g. --out my-run")
    if final.exists() and not final.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder", "pass a folder path")
    occupied = final.is_dir() and any(final.iterdir())
    if occupied and not RunFolder(final).is_finished():
        raise ConfigError(f"--out {out} holds files that are not a gentransfer run",
                          "pass a new folder (--overwrite replaces only a finished run)")
    partial = staging_folder(final)
    if partial.is_dir() and _is_locked(partial):
        raise ConfigError(f"another gentransfer run is writing to {out}",
                          "wait for it to finish, or pass another --out")
    if resume:
        if not partial.is_dir():
            state = "is a finished run" if occupied else "has no unfinished run"
            raise ConfigError(f"--out {out} {state}: nothing to resume",
                              "drop --resume (with --overwrite to fit it again), or pass the --out of a killed run")
        if overwrite:
            raise ConfigError("--resume and --overwrite contradict each other", "pass one of them")
    elif occupied and not overwrite:
        raise ConfigError(f"--out {out} already exists", "pass --overwrite to replace it, or another --out")
    elif partial.is_dir() and not overwrite:
        raise ConfigError(f"a killed run of --out {out} waits in {partial}",
                          "pass --resume to continue it, or --overwrite to start afresh")
    ancestor = final.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        raise ConfigError(f"cannot write to --out {out}: {ancestor} is not a writable folder",
                          "pass a --out inside a writable folder")
    return final


def _lock(folder: Path) -> int:
    """Hold an exclusive lock on ``folder`` (released when the returned descriptor is closed)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EAGAIN, errno.EACCES):
            raise ConfigError(f"another gentransfer run is writing to {folder}",
                              "wait for it to finish, or pass another --out") from None
        raise
    return fd


def _is_locked(folder: Path) -> bool:
    try:
        os.close(_lock(folder))
    except ConfigError:
        return True
    except OSError:
        return False
    return False


@contextmanager
def run_transaction(final: Path, *, overwrite: bool, resume: bool) -> Iterator[RunFolder]:
    """Build a run in its staging folder and move it to ``final`` only when it finished.

    Yields the staging folder as a :class:`RunFolder` (``.<name>.partial`` beside ``final``; a
    resumed run's checkpoints are there), locked against other runs for the whole transaction. On
    success it replaces ``final``; on a one-line error or a failed write (a full disk) the staging
    folder of a fresh run is removed, and ``final`` is left as it was; after a kill it stays, for
    ``--resume``.
    """
    staging = staging_folder(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir(exist_ok=True)
    fd = _lock(staging)
    try:
        if RunFolder(final).is_finished() and not (overwrite or resume):  # finished by another run since check_out
            raise ConfigError(f"--out {final} already exists", "pass --overwrite to replace it, or another --out")
        if not resume:  # a killed run the user chose to start afresh
            for child in staging.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        try:
            yield RunFolder(staging)
        except (GentransferError, OSError):
            if not resume:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        old = final.parent / f".{final.name}.replaced"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(fd)


def fit_once(fit_into: Callable[[Path, bool, bool], Path], out: Path, recipe: dict[str, Any], *,
             shared: bool = False) -> RunFolder:
    """The run folder ``out`` of one fit by ``recipe``, fitted at most once: ``fit_into(out, resume,
    overwrite)`` fits it.

    ``recipe`` is everything that decides the fit (data, settings, seeds, the source's recipe);
    ``fit_into`` must record it in the run's config as ``recipe``, and it is noted beside a fit
    while it runs. A finished run of the same recipe is read back; one of another recipe is fitted
    again in its place; a killed fit of the same recipe resumes from its checkpoint, one of another
    starts afresh. ``shared``: other processes may ask for the same folder at once (a source every
    job of a study needs): the first fits it while the others wait, then read it. Under torchrun
    every process acts on the first one's decision (all read its folder, which must be on a file
    system they share, or all fit together; a killed fit starts afresh). A finished fit drops its
    training checkpoints (about 5x the model; they serve only a killed fit's resume).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if not shared:
        return _fit_once(fit_into, out, json.loads(json.dumps(recipe)))
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fit_once(fit_into, out, json.loads(json.dumps(recipe)))


def _fit_once(fit_into: Callable[[Path, bool, bool], Path], out: Path, recipe: dict[str, Any]) -> RunFolder:
    from gentransfer.training.distributed import agree, is_main, world

    partial = staging_folder(out)
    started = out.with_name(f".{out.name}.recipe.json")  # the recipe of the fit in `partial`
    decision = None
    if is_main():
        if RunFolder(out).is_finished():
            decision = ("read", str(out)) if RunFolder(out).config().get("recipe") == recipe else ("fit", None)
        elif partial.is_dir() and started.is_file() and json.loads(started.read_text()) == recipe:
            decision = ("resume", None)
        else:
            decision = ("fit", None)
    decision = agree(decision)
    if decision[0] == "read":
        return RunFolder(decision[1])
    if is_main():
        write_json(started, recipe)
    if decision[0] == "resume" and world()[1] == 1:
        try:
            return _finished(fit_into(out, True, False), started)
        except (CheckpointError, ConfigError):  # a checkpoint it cannot continue: start afresh
            pass
    return _finished(fit_into(out, False, RunFolder(out).is_finished() or partial.is_dir()), started)


def _finished(run: Path, started: Path) -> RunFolder:
    from gentransfer.training.distributed import is_main

    if is_main():
        shutil.rmtree(Path(run) / RunFolder.CHECKPOINTS, ignore_errors=True)
        started.unlink(missing_ok=True)
    return RunFolder(run)
