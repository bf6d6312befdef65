"""Draw samples from a fitted run, in the data's units (optionally with Domain Guidance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gentransfer.data.images import PixelScale
from gentransfer.data.mixed import MixedTransform
from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError, ConfigError, DataError
from gentransfer.pipeline.runfolder import RunFolder
from gentransfer.pipeline.scaling import Scaling
from gentransfer.training.distributed import device as device_of

__all__ = ["sample_run", "sample_table", "write_samples", "MAX_SAMPLE_BYTES"]

MAX_SAMPLE_BYTES = 4 * 2**30  # sample refuses, before allocating, an output larger than this


def sample_table(run: str | Path, n: int, cond: Table | None, *, seed: int = 0, device: str = "cpu",
                 guidance: float | None = None) -> Table:
    """``n`` samples per condition row (or ``n`` in all for a model without conditions), as a table in
    the data's units: a typed table's columns (their names, types and categories) kept, so
    :func:`write_samples` writes the user's values. See :func:`sample_run` for the arguments."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"--n must be a positive integer, got {n!r}", "pass --n 1 or more")
    where = device_of(device)
    model, config, scaling = RunFolder(run).read()
    model.to(where)
    draw = model.sample if guidance is None else _guided(model, config, scaling, run, guidance, where).sample
    image = isinstance(scaling.x, PixelScale)
    if image and cond is None and model.z_dim:  # every class
        cond = Table(z=np.arange(model.embedding.config["n_classes"], dtype=np.float64)[:, None], source="classes")
    needs = model.z_dim + getattr(model, "given_zc_dim", model.zc_dim) > 0  # a pooled model's domain is its own
    if needs and cond is None:
        raise DataError(f"the model in {run} is conditional and needs conditions",
                        "pass --cond FILE with its z (and zc) columns")
    if not needs and cond is not None:
        raise DataError(f"the model in {run} takes no conditions", "drop --cond")
    total = n * (len(cond) if cond is not None else 1)
    size = total * (model.x_dim + model.z_dim + model.zc_dim) * 8 * 2  # float64 output plus a float32 copy
    if size > MAX_SAMPLE_BYTES:
        raise ConfigError(f"{total:,} samples would need about {size / 2**30:,.0f} GiB of memory",
                          f"ask for fewer (--n), at most {MAX_SAMPLE_BYTES // 2**30} GiB in one call")
    gen = torch.Generator().manual_seed(seed)
    if cond is None:
        x = draw(n=n, generator=gen).cpu().numpy()
    else:
        cond = cond.repeat(n)
        x = draw(*scaling.checked_conditions(model, cond), generator=gen).cpu().numpy()
    codes = scaling.x.inverse(x) if np.isfinite(x).all() else x
    if not np.isfinite(codes).all():
        raise CheckpointError(f"the model in {run} generated NaN or inf values", "re-fit the run (lower lr)")
    columns = {"x": scaling.x.specs} if isinstance(scaling.x, MixedTransform) else {}
    if cond is not None and cond.columns:
        columns.update({r: s for r, s in cond.columns.items() if r in ("z", "zc")})
    return Table(x=codes, z=None if cond is None else cond.z, zc=None if cond is None else cond.zc,
                 source=f"samples of {run}", image_shape=scaling.x.shape if image else None,
                 columns=columns or None, header=_order(config, columns))


def sample_run(run: str | Path, n: int, cond: Table | None, *, seed: int = 0, device: str = "cpu",
               guidance: float | None = None) -> dict[str, np.ndarray]:
    """``n`` samples per condition row (or ``n`` in all for a model without conditions), in data units.

    An image run returns ``x`` as ``N x C x H x W`` images in [0, 1]; a class-conditional one
    given no conditions draws ``n`` images of every class (``z`` holds the class index). A typed
    table's categorical and boolean columns hold category codes (:func:`sample_table` keeps their
    names). ``device``: cpu, cuda or auto (the noise comes from a CPU generator either way).
    ``guidance``: sample a diffusion target with Domain Guidance at this weight, guided by the
    source run it was fitted from (:class:`~gentransfer.diffusion.guidance.DomainGuidance`; 1 is
    the target as it is)."""
    table = sample_table(run, n, cond, seed=seed, device=device, guidance=guidance)
    x = table.x.reshape(len(table.x), *table.image_shape) if table.image_shape else table.x
    return {**{r: getattr(table, r) for r in ("z", "zc") if getattr(table, r) is not None}, "x": x}


def _order(config: dict[str, Any], columns: dict[str, tuple]) -> tuple[str, ...] | None:
    """The run's data columns in the order of its CSV file, where it came from one."""
    order = config.get("column_order")
    names = {s.name for specs in columns.values() for s in specs}
    return tuple(c for c in order if c in names) if order and names else None


def _guided(model: Any, config: dict[str, Any], scaling: Scaling, run: str | Path, weight: float,
            where: torch.device):
    """The target in ``run`` guided by the source run it was fitted from (Domain Guidance)."""
    from gentransfer.diffusion.guidance import DomainGuidance

    if config.get("role") != "target" or not isinstance(config.get("source"), str):
        raise ConfigError(f"domain guidance samples a target with its source, and {run} is not a fit-target run",
                          "pass a run written by fit-target, or drop --domain-guidance")
    source, _, src_scaling = RunFolder(config["source"]).read()
    if src_scaling.x.to_dict() != scaling.x.to_dict():
        raise ConfigError(f"domain guidance needs the source in {config['source']} to model x on the target's "
                          "scale, and the two runs scale x differently (a table's columns are scaled per run)",
                          "use it on image runs, or drop --domain-guidance")
    return DomainGuidance(model, source.to(where), weight)




def write_samples(table: Table, out: str | Path, *, grid_title: str | None = None) -> Path | None:
    """Write :func:`sample_table`'s table to ``out``: ``.npz`` as arrays (``x`` as ``N x C x H x W``
    images for an image run; a typed table's categories as their codes), ``.csv`` as columns: a typed
    table's own names, in its file's order, with its values (categories as their names, whole
    numbers as integers), otherwise x0.., z0.., zc0..; images also as a sample grid PNG beside
    ``out`` (a row per class; ``grid_title``). Returns the grid's path, if one was written."""
    import io

    from gentransfer.files import atomic_write_bytes

    out = Path(out)
    buf = io.BytesIO()
    x = table.x.reshape(len(table.x), *table.image_shape) if table.image_shape else table.x
    if out.suffix == ".npz":
        np.savez(buf, x=x, **{r: getattr(table, r) for r in ("z", "zc") if getattr(table, r) is not None})
    else:
        names, cells = _csv_columns(table)
        rows = "".join(_csv_line(row) + "\n" for row in zip(*cells, strict=True))
        buf.write((_csv_line(names) + "\n" + rows).encode())
    atomic_write_bytes(out, buf.getvalue())
    if not table.image_shape:
        return None
    from gentransfer.data.images import save_image_grid

    labels = table.z[:, 0] if table.z is not None else None
    return save_image_grid(x, out.with_suffix(".png"), labels, title=grid_title or str(out))


def _csv_columns(table: Table) -> tuple[list[str], list[list[str]]]:
    """Each column's name and its values as text."""
    columns = []
    for role in ("x", "z", "zc"):
        values = getattr(table, role)
        if values is None:
            continue
        specs = table.specs(role)
        for j in range(values.shape[1]):
            spec = specs[j] if specs else None
            name = spec.name if spec else f"{role}{j}"
            if spec is not None and spec.discrete:
                text = [spec.categories[int(v)] for v in values[:, j]]
            elif spec is not None and spec.kind == "integer":
                text = [str(int(v)) for v in values[:, j]]
            else:
                text = [repr(float(v)) for v in values[:, j]]
            columns.append((name, text))
    if table.header:
        position = {name: i for i, name in enumerate(table.header)}
        columns.sort(key=lambda c: position.get(c[0], len(position)))
    return [c[0] for c in columns], [c[1] for c in columns]


def _csv_line(fields) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()
