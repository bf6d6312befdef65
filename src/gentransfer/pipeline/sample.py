"""Draw samples from a fitted run, in the data's units (optionally with Domain Guidance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gentransfer.data.images import PixelScale
from gentransfer.data.tabular import Table
from gentransfer.errors import CheckpointError, ConfigError, DataError
from gentransfer.pipeline.runfolder import RunFolder
from gentransfer.pipeline.scaling import Scaling
from gentransfer.training.distributed import device as device_of

__all__ = ["sample_run", "write_samples", "MAX_SAMPLE_BYTES"]

MAX_SAMPLE_BYTES = 4 * 2**30  # sample refuses, before allocating, an output larger than this


def sample_run(run: str | Path, n: int, cond: Table | None, *, seed: int = 0, device: str = "cpu",
               guidance: float | None = None) -> dict[str, np.ndarray]:
    """``n`` samples per condition row (or ``n`` in all for a model without conditions), in data units.

    An image run returns ``x`` as ``N x C x H x W`` images in [0, 1]; a class-conditional one
    given no conditions draws ``n`` images of every class (``z`` holds the class index).
    ``device``: cpu, cuda or auto (the noise comes from a CPU generator either way).
    ``guidance``: sample a diffusion target with Domain Guidance at this weight, guided by the
    source run it was fitted from (:class:`~gentransfer.diffusion.guidance.DomainGuidance`; 1 is
    the target as it is)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"--n must be a positive integer, got {n!r}", "pass --n 1 or more")
    where = device_of(device)
    model, config, scaling = RunFolder(run).read()
    model.to(where)
    draw = model.sample if guidance is None else _guided(model, config, scaling, run, guidance, where).sample
    image = isinstance(scaling.x, PixelScale)
    if image and cond is None and model.z_dim:  # every class
        cond = Table(z=np.arange(model.embedding.config["n_classes"], dtype=np.float64)[:, None], source="classes")
    needs = model.z_dim + model.zc_dim > 0
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
    out: dict[str, np.ndarray] = {}
    if cond is None:
        x = draw(n=n, generator=gen).cpu().numpy()
    else:
        model.validate(None, cond.z, cond.zc)  # widths and presence, in the user's units
        z = None if cond.z is None else np.repeat(cond.z, n, axis=0)
        zc = None if cond.zc is None else np.repeat(cond.zc, n, axis=0)
        x = draw(*scaling.conditions(z, zc), generator=gen).cpu().numpy()
        out.update({k: v for k, v in (("z", z), ("zc", zc)) if v is not None})
    if not np.isfinite(x).all():
        raise CheckpointError(f"the model in {run} generated NaN or inf values", "re-fit the run (lower lr)")
    out["x"] = scaling.x.inverse(x)
    if not np.isfinite(out["x"]).all():
        raise CheckpointError(f"the model in {run} generated NaN or inf values", "re-fit the run (lower lr)")
    if image:
        out["x"] = out["x"].reshape(len(x), *scaling.x.shape)
    return out


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




def write_samples(arrays: dict[str, np.ndarray], out: str | Path, *, grid_title: str | None = None) -> Path | None:
    """Write ``sample_run``'s arrays to ``out``: ``.npz`` as they are, ``.csv`` as columns x0.., z0..,
    zc0..; images also as a sample grid PNG beside ``out`` (a row per class; ``grid_title``). Returns
    the grid's path, if one was written."""
    import io

    from gentransfer.files import atomic_write_bytes

    out = Path(out)
    buf = io.BytesIO()
    if out.suffix == ".npz":
        np.savez(buf, **arrays)
    else:
        cols = [(f"{k}{i}", arrays[k][:, i]) for k in ("x", "z", "zc") if k in arrays
                for i in range(arrays[k].shape[1])]
        text = ",".join(c for c, _ in cols) + "\n" + "\n".join(
            ",".join(repr(float(v[r])) for _, v in cols) for r in range(len(arrays["x"]))) + "\n"
        buf.write(text.encode())
    atomic_write_bytes(out, buf.getvalue())
    if arrays["x"].ndim != 4:
        return None
    from gentransfer.data.images import save_image_grid

    labels = arrays["z"][:, 0] if "z" in arrays else None
    return save_image_grid(arrays["x"], out.with_suffix(".png"), labels, title=grid_title or str(out))
