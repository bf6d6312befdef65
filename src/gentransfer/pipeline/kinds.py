"""The kinds of data a run models, each one object with the same methods.

- :class:`TableKind`: a table's x, given shared conditions z (a conditional model: ``h(z)`` is the
  shared part) or none (a plain model of x, transferred by finetune, lora or auto);
- :class:`LatentKind`: a table's x without z, modelled as the paper's unconditional model: a
  shared latent law ``P_U`` and a decoder (``--latent-dim``);
- :class:`ImageKind`: images (a UNet diffusion; class labels through a shared class embedding).

A kind sizes the default settings, makes x's scaler, builds the source model, checks a target's
data against the source, fits a model (a latent model in its stages) and says what the source
offers the strategies (:data:`~gentransfer.transfer.SourceKind`). The pipeline asks the kind and
never branches on the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gentransfer.data.columns import ColumnTransform
from gentransfer.data.images import PixelScale
from gentransfer.data.mixed import MixedConditions
from gentransfer.data.tabular import Table
from gentransfer.errors import ConfigError, DataError
from gentransfer.families import get_family
from gentransfer.latent import LatentModel, fit_latent
from gentransfer.models.base import GenerativeModel
from gentransfer.nn import SharedEmbedding
from gentransfer.pipeline.scaling import Scaling, fit_conditions, fit_x
from gentransfer.pipeline.settings import CLASSES_PER_LABEL, IMAGE_ONLY, ModelSettings
from gentransfer.training import FitResult, TrainSettings, fit
from gentransfer.transfer import GUARD_CANDIDATES, SourceKind

__all__ = ["Kind", "TableKind", "LatentKind", "ImageKind", "SourceRun", "kind_of_data", "is_run_model",
           "data_defaults", "DIFFUSION_MIN_STEPS", "LATENT_DRAWS"]

DIFFUSION_MIN_STEPS = 10000  # a table diffusion's step floor: early stopping, not the budget, ends it
LATENT_DRAWS = 1024  # prior draws per step of a latent target's likelihood stage (4,096: 4x the time, on 2 cores)


def is_run_model(model: Any) -> bool:
    """Is ``model`` one a run folder holds (a family's model, or a latent model)?"""
    return isinstance(model, GenerativeModel | LatentModel)


@dataclass(frozen=True)
class SourceRun:
    """A fitted source run as a target is built from it: its model, settings, scales and kind."""

    path: Path
    model: Any
    config: dict[str, Any]
    scaling: Scaling

    @property
    def kind(self) -> Kind:
        if isinstance(self.scaling.x, PixelScale):
            return ImageKind()
        return LatentKind(self.model.latent_dim) if isinstance(self.model, LatentModel) else TableKind()


class Kind:
    """What every kind of data does; a table's x (given z, or alone) is the plainest."""

    name = "table"

    # -- the source --------------------------------------------------------------------------
    def defaults(self, family: str, columns: int, rows: int, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Model and training settings sized from the data (see :func:`data_defaults`)."""
        pow2 = 1 << max(0, int(np.ceil(np.log2(max(columns, 1)))))
        batch = min(256, max(1, rows))
        if family == "diffusion":
            model = {"hidden": int(np.clip(4 * pow2, 128, 1024)), "depth": 3, "sampler": "sde-dpm++",
                     "sample_steps": 50}
            epochs, patience, repeats = 200, 10, 8
        else:
            model = {"hidden": int(np.clip(2 * pow2, 64, 512)), "depth": 2,
                     "n_layers": int(np.clip(2 * np.ceil(np.log2(columns + 1)), 4, 12)),
                     "coupling": "affine" if columns >= 8 else "additive"}
            epochs, patience, repeats = 100, 8, 4
        least = DIFFUSION_MIN_STEPS if family == "diffusion" else 2000
        steps = int(np.clip(np.ceil(epochs * rows / batch), least, 20000))
        train = {"steps": steps, "batch_size": batch, "eval_every": max(100, steps // 50), "patience": patience,
                 "val_repeats": repeats}
        return (model if role == "source" else {}), train

    def x_scaler(self, data: Table, bounds: str | tuple[float, float]) -> Any:
        return fit_x(data, bounds)

    def check_source(self, arch: ModelSettings, family: str, data: Table, log) -> None:
        """The source's settings against its data."""
        if data.z is None:
            log("no shared conditions z: a plain model of x (a target transfers it by finetune, lora or auto; "
                "--latent-dim K fits the paper's shared latent law P_U instead)")
        elif arch.n_classes is not None and data.z.shape[1] != 1:
            raise DataError(f"{data.source}: class labels need one z column, got {data.z.shape[1]}",
                            "pass a single label column as z")
        elif arch.n_classes is not None:
            _classes_fit_labels(arch.n_classes, data)
        _no_unet_settings(arch, data)

    def source_scaling(self, x: ColumnTransform | PixelScale, arch: ModelSettings, data: Table) -> Scaling:
        # class labels stay labels: a lookup embedding reads them
        return Scaling.fit(x, data, z=arch.n_classes is None)

    def build(self, family: str, arch: ModelSettings, data: Table, scaling: Scaling) -> Any:
        kwargs = arch.constructor_args(family)
        if arch.n_classes is not None:  # z is a class label: h is a lookup table
            kwargs["embedding"] = SharedEmbedding(1, arch.embed_dim or 4, n_classes=arch.n_classes)
        elif arch.embed_dim is not None:
            kwargs["embed_dim"] = arch.embed_dim
        return get_family(family)(x_dim=scaling.x.model_width, z_dim=scaling.width("z", data),
                                  zc_dim=scaling.width("zc", data), **kwargs)

    def fit(self, model: Any, x: np.ndarray, z: np.ndarray | None, zc: np.ndarray | None, cfg: TrainSettings,
            checkpoint_dir: Path, resume: bool, *, refine: bool) -> tuple[FitResult, dict[str, Any]]:
        """Fit ``model``; returns its :class:`FitResult` and extra metrics (a latent model's stages)."""
        return fit(model, x, z, zc, train=cfg, checkpoint_dir=str(checkpoint_dir), resume=resume), {}

    # -- a target ----------------------------------------------------------------------------
    def source_kind(self, model: Any) -> SourceKind:
        return "plain" if model.z_dim == 0 else "conditional"

    def candidates(self, model: Any) -> list[str]:
        """The strategies ``auto`` compares for a source of this kind (nothing to freeze without z)."""
        return [s for s in GUARD_CANDIDATES if not (self.source_kind(model) == "plain" and s == "freeze-shared")]

    def check_target(self, src: SourceRun, data: Table) -> Table:
        """The target's data against the source's kind (its conditions); returns the data as the
        source reads them."""
        if data.image_shape is not None:
            raise DataError(f"{data.source} holds images of shape {data.image_shape}, but the source in {src.path} "
                            "was fitted on a table", "give the target data of the source's kind and shape")
        if self.source_kind(src.model) == "plain":
            if data.z is not None:
                raise DataError(f"{data.source} has shared conditions z, but the source in {src.path} was fitted "
                                "without them", "drop z from the target, or fit the source on data with z")
        elif data.z is None:
            raise DataError(f"{data.source} has no shared conditions z",
                            f"give the target the source's shared block z ({src.model.z_dim} columns)")
        elif isinstance(src.scaling.z, MixedConditions):
            src.scaling.codes(data, "z")  # the source's columns by name, and only categories it saw
        elif data.z.shape[1] != src.model.z_dim:
            raise DataError(f"{data.source}: z has {data.z.shape[1]} columns but the source's shared block has "
                            f"{src.model.z_dim}", "give the target the same shared condition columns as the source")
        return data

    def target_scaling(self, src: Scaling, data: Table, bounds: str | tuple[float, float]) -> Scaling:
        """The target's own x scaler, the source's z (h was learned on its scale), its own zc."""
        return Scaling(fit_x(data, bounds), src.z, fit_conditions(data, "zc"))

    def target_dims(self, scaling: Scaling, data: Table) -> dict[str, int]:
        return {"x_dim": scaling.x.model_width, "zc_dim": scaling.width("zc", data)}


class TableKind(Kind):
    """A table's x given shared conditions z, or alone (a plain model)."""


def _classes_fit_labels(n_classes: int, data: Table) -> None:
    """``n_classes`` at most ``CLASSES_PER_LABEL`` x (the largest label + 1): room for classes only
    the targets have, not a lookup table of a hundred million rows for labels 0..2."""
    lo, hi = float(data.z.min()), float(data.z.max())
    top = int(max(hi, 0.0)) + 1
    if n_classes > CLASSES_PER_LABEL * top:
        raise ConfigError(f"--n-classes {n_classes} but the labels in {data.source} run {lo:g}..{hi:g} (at most "
                          f"{CLASSES_PER_LABEL} x (the largest label + 1) classes)",
                          f"pass --n-classes {top} (the largest label + 1), or a few more for classes only the "
                          "targets have")


def _no_bounds(bounds: str | tuple[float, float], data: Table) -> None:
    """Images are always pixels in [0, 1]: ``--bounds`` applies to tables only."""
    if bounds != "auto":
        text = f"{bounds[0]:g}:{bounds[1]:g}" if isinstance(bounds, tuple) else bounds
        raise ConfigError(f"--bounds {text} applies to tables, but {data.source} holds images (pixels are scaled "
                          "to [0, 1])", "drop --bounds")


def _no_unet_settings(arch: ModelSettings, data: Table) -> None:
    given = [k for k in IMAGE_ONLY if getattr(arch, k) is not None]
    if given:
        raise ConfigError(f"{given} set a UNet, but {data.source} is a table", f"drop {given} (they apply to images)")


class LatentKind(Kind):
    """A table's x without conditions as the paper's unconditional model: ``P_U`` and a decoder."""

    name = "latent"

    def __init__(self, latent_dim: int | None = None):
        self.latent_dim = latent_dim

    def defaults(self, family: str, columns: int, rows: int, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
        _, train = TableKind().defaults(family, columns, rows, role)
        # the prior lives on R^latent_dim (flows: 6 affine couplings of width 64, the multimodal
        # latents of the paper's design need them; diffusion: width 128); every stage on one budget
        model = ({"hidden": 128, "depth": 3, "sampler": "sde-dpm++", "sample_steps": 50} if family == "diffusion"
                 else {"hidden": 64, "depth": 2, "n_layers": 6, "coupling": "affine"})
        batch = min(256, max(1, rows))
        epochs = 200 if family == "diffusion" else 100
        steps = int(np.clip(np.ceil(epochs * rows / batch), 2000, 20000))
        train = {**train, "steps": steps, "eval_every": max(100, steps // 50)}
        return (model if role == "source" else {}), train

    def check_source(self, arch: ModelSettings, family: str, data: Table, log) -> None:
        if data.z is not None or data.zc is not None:
            raise DataError(f"{data.source} has conditions, but --latent-dim fits the unconditional latent model",
                            "drop --latent-dim (a conditional model shares h(z)), or fit x alone")
        log(f"no shared conditions z: the paper's unconditional model, a shared latent law P_U on "
            f"R^{arch.latent_dim} (a {family} model) and a decoder into x; a target keeps P_U (freeze-shared) "
            "or fits its own (scratch, finetune, auto)")
        _no_unet_settings(arch, data)

    def build(self, family: str, arch: ModelSettings, data: Table, scaling: Scaling) -> Any:
        """The latent model; its latent summarises x, so it has at most x's modelled columns."""
        width = scaling.x.model_width
        if arch.latent_dim > width:
            raise ConfigError(f"--latent-dim {arch.latent_dim} is more than the {width} modelled columns of x in "
                              f"{data.source}", f"pass --latent-dim {width} or less")
        return LatentModel(x_dim=width, latent_dim=arch.latent_dim, prior_family=family,
                           prior_config=arch.constructor_args(family))

    def fit(self, model: Any, x: np.ndarray, z: np.ndarray | None, zc: np.ndarray | None, cfg: TrainSettings,
            checkpoint_dir: Path, resume: bool, *, refine: bool) -> tuple[FitResult, dict[str, Any]]:
        """:func:`fit_latent`'s stages, each on the same settings, and with ``refine`` (a target) the
        decoder's maximum-likelihood stage at a smaller step and batch (the unconditional study's
        recipe, ``LATENT_DRAWS`` prior draws a step)."""
        likelihood = replace(cfg, lr=min(cfg.lr, 1e-3), batch_size=min(cfg.batch_size, 64)) if refine else None
        results = fit_latent(model, x, autoencoder_train=cfg, prior_train=cfg, likelihood_train=likelihood,
                             seed=cfg.seed, draws=LATENT_DRAWS, checkpoint_dir=str(checkpoint_dir), resume=resume)
        stages = {name: {"steps": r.steps, "best_val_loss": r.best_val_loss, "seconds": round(r.seconds, 3)}
                  for name, r in results.items()}
        return list(results.values())[-1], {"stages": stages}

    def source_kind(self, model: Any) -> SourceKind:
        return "latent"

    def check_target(self, src: SourceRun, data: Table) -> Table:
        if data.image_shape is not None:
            return super().check_target(src, data)
        if data.z is not None or data.zc is not None:
            raise DataError(f"{data.source} has conditions, but the source in {src.path} is the unconditional latent "
                            "model", "drop z and zc from the target")
        return data

    def target_dims(self, scaling: Scaling, data: Table) -> dict[str, int]:
        return {"x_dim": scaling.x.model_width}


class ImageKind(Kind):
    """Images: a UNet diffusion on ``[-1, 1]`` pixels; class labels (if any) through a shared class
    embedding, matched by name between source and target."""

    name = "image"

    def defaults(self, family: str, columns: int, rows: int, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
        # a UNet of base width 16 (channels 16-32-32: the digits benchmark's, sized for CPUs), 50 passes
        # (500 to 10,000 steps) at batch 128 and learning rate 2e-3 with a weight average, sampled with
        # stochastic DPM-Solver++ in 20 steps
        steps = int(np.clip(np.ceil(50 * rows / min(128, rows)), 500, 10000))
        train = {"steps": steps, "batch_size": min(128, rows), "lr": 2e-3, "ema_decay": 0.995,
                 "eval_every": max(100, steps // 20), "patience": 4, "val_repeats": 2}
        return ({"hidden": 16, "sampler": "sde-dpm++", "sample_steps": 20} if role == "source" else {}), train

    def x_scaler(self, data: Table, bounds: str | tuple[float, float]) -> Any:
        _no_bounds(bounds, data)
        return PixelScale(data.image_shape)

    def check_source(self, arch: ModelSettings, family: str, data: Table, log) -> None:
        if family != "diffusion":
            raise ConfigError(f"{data.source} holds images, which the UNet diffusion models", "pass --family diffusion")
        given = sorted(k for k in ("embed_dim", "depth", "n_classes", "latent_dim") if getattr(arch, k) is not None)
        if given:
            raise ConfigError(f"{given} do not apply to images (a UNet: --hidden is its base width; classes come "
                              "from the data)", f"drop {given}")
        if data.zc is not None:
            raise DataError(f"{data.source}: images take class labels z only", "drop zc")

    def source_scaling(self, x: ColumnTransform | PixelScale, arch: ModelSettings, data: Table) -> Scaling:
        return Scaling(x)  # class labels stay labels

    def build(self, family: str, arch: ModelSettings, data: Table, scaling: Scaling) -> Any:
        from gentransfer.diffusion.unet import unet_diffusion

        kwargs = arch.constructor_args(family)
        n_classes = None if data.z is None else len(data.classes) if data.classes else int(data.z.max()) + 1
        width = kwargs.pop("hidden", 16)
        blocks = kwargs.pop("block_out_channels", None) or [width, 2 * width, 2 * width]
        return unet_diffusion(data.image_shape, n_classes, block_out_channels=blocks, **kwargs)

    def check_target(self, src: SourceRun, data: Table) -> Table:
        if data.image_shape != src.scaling.x.shape:
            got = f"images of shape {data.image_shape}" if data.image_shape is not None else "a table"
            raise DataError(f"{data.source} holds {got}, but the source in {src.path} was fitted on images of shape "
                            f"{src.scaling.x.shape}", "give the target data of the source's kind and shape")
        data = image_labels(data, src.config, src.path)
        super().check_target(src, replace(data, image_shape=None))  # its class labels as any z
        return data

    def target_scaling(self, src: Scaling, data: Table, bounds: str | tuple[float, float]) -> Scaling:
        _no_bounds(bounds, data)
        return Scaling(src.x, src.z, None)


def image_labels(data: Table, src_config: dict[str, Any], source: str | Path) -> Table:
    """A target's image classes as the source's class indices (a PNG folder's names mapped by name)."""
    known = src_config.get("classes")
    if data.classes is None or data.z is None:
        return data
    if known is None:  # the source's labels are numbers: the folder's names must be those numbers
        if not all(c.isdigit() for c in data.classes):
            raise DataError(f"{data.source}: class folders {list(data.classes)[:4]} are names, but the source in "
                            f"{source} has numbered classes", "name the class folders 0, 1, ... as the source's labels")
        index = [int(c) for c in data.classes]
    else:
        unknown = [c for c in data.classes if c not in known]
        if unknown:
            raise DataError(f"{data.source}: class {unknown[0]!r} is unknown to the source in {source} "
                            f"(it knows {known[:10]})", "drop that class folder, or fit the source with it")
        index = [known.index(c) for c in data.classes]
    z = np.asarray(index, dtype=np.float64)[data.z[:, 0].astype(int)][:, None]
    return replace(data, z=z, classes=None)


def kind_of_data(data: Table, arch: ModelSettings) -> Kind:
    """The kind a source's data and settings make."""
    if data.image_shape is not None:
        return ImageKind()
    return LatentKind(arch.latent_dim) if arch.latent_dim is not None else TableKind()


def data_defaults(family: str, columns: int, rows: int, *, role: str = "source", latent_dim: int | None = None,
                  image: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model and training settings sized from the data: ``columns`` modelled x columns, ``rows`` rows.

    Width grows with the dimension (diffusion: 4 per column, 128 to 1,024; flows: 2 per column, 64
    to 512, and more coupling layers, affine from 8 columns); the step budget is a number of passes
    over the rows (diffusion 200, flows 100; at most 20,000 steps and at least 2,000, a diffusion
    of x 10,000, since its denoising loss keeps falling long after a flow's has settled), ended by
    early stopping with a patience that outlasts the noise of the held-out loss. Diffusion samples
    with stochastic DPM-Solver++ (50 steps). A target
    (``role="target"``) keeps its source's architecture, so only the training settings apply to it.
    With ``latent_dim`` the model is the prior ``P_U`` of a latent model; with ``image`` a UNet
    (:class:`ImageKind`).

    Example:
        >>> model, train = data_defaults("diffusion", 64, 20000)
        >>> model["hidden"], train["steps"], train["patience"]
        (256, 15625, 10)
    """
    kind = ImageKind() if image else LatentKind(latent_dim) if latent_dim is not None else TableKind()
    return kind.defaults(family, columns, rows, role)
