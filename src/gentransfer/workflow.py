"""Bring your own data: fit a source, transfer to a target, sample, each into a run folder.

A run folder holds ``config.json`` (the resolved settings), ``model/`` (``save_pretrained``),
``scaling.json`` (x's :class:`~gentransfer.data.columns.ColumnTransform`: constant columns left
out, bounded columns through a logit, standardisation; the standardisation of z and z^c),
``metrics.json`` and ``checkpoints/`` (resumable training state). The shared block ``z`` is
standardised with the *source's* statistics in both tasks, since the embedding ``h`` was learned on that scale.

Every function validates all of its input (settings, data, the source run) before it touches
the disk, and writes its run as one transaction (:func:`gentransfer.runs.run_transaction`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gentransfer.adapters import MIN_RANK, WIDTH_PER_RANK
from gentransfer.config import check_fields, load_pretrained, settings_from_dict
from gentransfer.data.columns import ColumnTransform
from gentransfer.data.images import PixelScale
from gentransfer.data.tabular import Table
from gentransfer.diffusion.unet import unet_diffusion
from gentransfer.distributed import device as device_of
from gentransfer.errors import CheckpointError, ConfigError, DataError
from gentransfer.families import get_family
from gentransfer.latent import LatentModel, fit_latent
from gentransfer.models.base import GenerativeModel
from gentransfer.nn import SharedEmbedding
from gentransfer.runs import check_out, run_transaction, write_json
from gentransfer.selection import choose_strategy
from gentransfer.training import MAX_SEED, TrainConfig, check_rows, fit, split_rows
from gentransfer.transfer import STRATEGIES, transfer

__all__ = ["ModelSettings", "fit_source", "fit_target", "sample_run", "evaluate_run", "data_defaults",
           "AUTO_MIN_VALIDATION", "MAX_SAMPLE_BYTES"]

AUTO_MIN_VALIDATION = 10  # rows of target data the auto strategy holds out, at least
AUTO_STRATEGIES = ("scratch", "freeze-shared", "finetune")  # the candidates the guard compares
AUTO_FRACTION = 0.2
FAR_ABOVE_FLOOR = 1.5  # the held-out check says plainly when W1 is more than this times the floor
CHECK_ROWS = 2000  # the held-out check scores at most this many rows (exact W1 is cubic)
NLL_ROWS = 1000  # evaluate scores the likelihood on at most this many rows (a diffusion ODE per row)
LATENT_DRAWS = 1024  # prior draws per step of a latent target's likelihood stage (4,096: 4x the time, on 2 cores)
DIFFUSION_MIN_STEPS = 10000  # a table diffusion's step floor (data_defaults): early stopping, not the budget, ends it
MAX_SAMPLE_BYTES = 4 * 2**30  # sample refuses, before allocating, an output larger than this
IMAGE_ONLY = ("block_out_channels", "layers_per_block", "attention", "norm_num_groups")  # the UNet's settings


@dataclass
class ModelSettings:
    """The architecture of a source model; unset settings take the family's defaults.

    Attributes:
        embed_dim: size k of the shared embedding h(z).
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        n_layers: coupling layers (flow family only).
        coupling: coupling type, additive or affine (flow family only).
        n_classes: z is one column of class labels 0..N-1 (h becomes a lookup table).
        sampler: the sampler of a diffusion model (diffusion family only).
        sample_steps: its number of steps (diffusion family only).
        latent_dim: data without z only: fit the paper's unconditional model, a shared latent law
            P_U on R^latent_dim (a model of the family) and a decoder into x; a target then keeps
            P_U and fits its own decoder (freeze-shared). Unset: a plain model of x.
        block_out_channels: images only: the UNet's channels per resolution, e.g. 16,32,32
            (default: hidden, 2 x hidden, 2 x hidden).
        layers_per_block: images only: ResNet layers per UNet block (default 1).
        attention: images only: attention blocks at the UNet's lowest resolution (costly on CPUs).
        norm_num_groups: images only: GroupNorm groups of the UNet (default 8; divides every width).
    """

    embed_dim: int | None = None
    hidden: int | None = None
    depth: int | None = None
    n_layers: int | None = None
    coupling: Literal["additive", "affine"] | None = None
    n_classes: int | None = None
    sampler: Literal["ancestral", "ode", "ddpm", "ddim", "dpm++", "sde-dpm++"] | None = None
    sample_steps: int | None = None
    latent_dim: int | None = None
    block_out_channels: list[int] | None = None
    layers_per_block: int | None = None
    attention: bool | None = None
    norm_num_groups: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ModelSettings:
        return settings_from_dict(cls, dict(values or {}), "model settings")

    def check(self, where: str = "model settings") -> None:
        check_fields(self, where)
        for name in ("embed_dim", "hidden", "depth", "n_layers", "sample_steps", "latent_dim", "layers_per_block",
                     "norm_num_groups"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}", f"pass {name} >= 1")
        if self.block_out_channels is not None and (not self.block_out_channels or min(self.block_out_channels) < 1):
            raise ConfigError(f"block_out_channels must be widths >= 1, got {self.block_out_channels}",
                              "pass e.g. --block-out-channels 16,32,32")
        if self.block_out_channels is not None and self.hidden is not None:
            raise ConfigError("hidden and block_out_channels both set the UNet's widths", "pass one of them")
        if self.n_classes is not None and self.n_classes < 2:
            raise ConfigError(f"n_classes must be >= 2, got {self.n_classes}", "pass the number of classes (>= 2)")

    def constructor_args(self, family: str) -> dict[str, Any]:
        """The family's constructor arguments (the embedding aside)."""
        skip = ("n_classes", "embed_dim", "latent_dim")
        args = {k: v for k, v in asdict(self).items() if v is not None and k not in skip}
        flow_only = sorted({"n_layers", "coupling"} & set(args))
        if family != "flow" and flow_only:
            raise ConfigError(f"{flow_only} apply to the flow family only", f"drop them for --family {family}")
        diffusion_only = sorted({"sampler", "sample_steps", *IMAGE_ONLY} & set(args))
        if family != "diffusion" and diffusion_only:
            raise ConfigError(f"{diffusion_only} apply to the diffusion family only",
                              f"drop them for --family {family}")
        return args


def data_defaults(family: str, columns: int, rows: int, *, role: str = "source",
                  latent_dim: int | None = None, image: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model and training settings sized from the data: ``columns`` modelled x columns, ``rows`` rows.

    Width grows with the dimension (diffusion: 4 per column, 128 to 1,024; flows: 2 per column, 64
    to 512, and more coupling layers, affine from 8 columns); the step budget is a number of passes
    over the rows (diffusion 200, flows 100; at most 20,000 steps and at least 2,000, a diffusion
    of x 10,000: its denoising loss on 1,000 rows of a 64-column table was still falling at 2,000
    steps under every strategy), ended by early stopping with a patience that outlasts the noise of
    the held-out loss. Diffusion samples with stochastic
    DPM-Solver++ (50 steps). A target (``role="target"``) keeps its source's architecture, so
    only the training settings apply to it. With ``latent_dim`` the model is the prior ``P_U`` on
    ``R^latent_dim`` of a latent model (flows: 6 affine couplings of width 64, the multimodal
    latents of the paper's design need them; diffusion: width 128), every stage on the same budget.
    With ``image`` the model is a UNet diffusion of base width 16 (channels 16-32-32: the digits
    benchmark's, sized for CPUs), 50 passes (500 to 10,000 steps) at batch 128 and learning rate
    2e-3 with a weight average, sampled with stochastic DPM-Solver++ in 20 steps.

    Example:
        >>> model, train = data_defaults("diffusion", 64, 20000)
        >>> model["hidden"], train["steps"], train["patience"]
        (256, 15625, 10)
    """
    if image:
        steps = int(np.clip(np.ceil(50 * rows / min(128, rows)), 500, 10000))
        train = {"steps": steps, "batch_size": min(128, rows), "lr": 2e-3, "ema_decay": 0.995,
                 "eval_every": max(100, steps // 20), "patience": 4, "val_repeats": 2}
        return ({"hidden": 16, "sampler": "sde-dpm++", "sample_steps": 20} if role == "source" else {}), train
    pow2 = 1 << max(0, int(np.ceil(np.log2(max(columns, 1)))))
    batch = min(256, max(1, rows))
    if family == "diffusion":
        model = {"hidden": int(np.clip(4 * pow2, 128, 1024)), "depth": 3, "sampler": "sde-dpm++", "sample_steps": 50}
        epochs, patience, repeats = 200, 10, 8
    else:
        model = {"hidden": int(np.clip(2 * pow2, 64, 512)), "depth": 2,
                 "n_layers": int(np.clip(2 * np.ceil(np.log2(columns + 1)), 4, 12)),
                 "coupling": "affine" if columns >= 8 else "additive"}
        epochs, patience, repeats = 100, 8, 4
    if latent_dim is not None:  # the prior of a latent model lives on R^latent_dim
        model = ({"hidden": 128, "depth": 3, "sampler": "sde-dpm++", "sample_steps": 50} if family == "diffusion"
                 else {"hidden": 64, "depth": 2, "n_layers": 6, "coupling": "affine"})
    least = DIFFUSION_MIN_STEPS if family == "diffusion" and latent_dim is None else 2000
    steps = int(np.clip(np.ceil(epochs * rows / batch), least, 20000))
    train = {"steps": steps, "batch_size": batch, "eval_every": max(100, steps // 50), "patience": patience,
             "val_repeats": repeats}
    return (model if role == "source" else {}), train


def _stats(a: np.ndarray | None, name: str, source: str) -> dict[str, list[float]] | None:
    """Mean and standard deviation per column; an error where they overflow (|values| near 1e308)."""
    if a is None:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        mean, sd = a.mean(axis=0), a.std(axis=0)
    if not (np.isfinite(mean).all() and np.isfinite(sd).all()):
        raise DataError(f"{source}: '{name}' has values too large to standardise (|{name}| up to "
                        f"{np.abs(a).max():.3g})", f"rescale {name} (e.g. change its units)")
    return {"mean": mean.tolist(), "std": np.where(sd > 0, sd, 1.0).tolist()}


def _apply(a: np.ndarray | None, s: dict[str, list[float]] | ColumnTransform | None) -> np.ndarray | None:
    if a is None or s is None:  # no array, or one kept as is (class labels)
        return a
    if isinstance(s, ColumnTransform | PixelScale):
        return s.forward(a)
    return (a - np.asarray(s["mean"])) / np.asarray(s["std"])


def _training_rows(x: np.ndarray, columns: ColumnTransform | PixelScale, seed: int) -> np.ndarray:
    """The x rows a model fits: a table's bounded ends spread over their edge bands (seeded, so a
    resumed fit sees the same rows; see :meth:`ColumnTransform.forward`); images as they are."""
    if isinstance(columns, ColumnTransform):
        return columns.forward(x, rng=np.random.default_rng([seed, 31]))
    return columns.forward(x)


def _log_columns(columns: ColumnTransform, log) -> None:
    d = columns.describe()
    if d["constant_columns"] or d["bounded_columns"]:
        log(f"x: {len(d['constant_columns'])} constant columns left out (restored exactly), "
            f"{len(d['bounded_columns'])} bounded columns kept in range, {d['modelled_columns']} columns modelled")


def _check_scaling(scaling: Any, model: GenerativeModel, path: Path) -> dict[str, Any]:
    fix = "re-create the run (scaling.json is written by fit-source / fit-target)"
    if not isinstance(scaling, dict) or set(scaling) != {"x", "z", "zc"}:
        raise CheckpointError(f"{path} must map x, z and zc to their scaling", fix)
    reader = PixelScale if isinstance(scaling["x"], dict) and "image_shape" in scaling["x"] else ColumnTransform
    scaling = {**scaling, "x": reader.from_dict(scaling["x"], model.x_dim, str(path))}
    for key, width in (("z", model.z_dim), ("zc", model.zc_dim)):
        s = scaling[key]
        if s is None:
            continue
        ok = isinstance(s, dict) and set(s) == {"mean", "std"} and all(
            isinstance(v, list) and len(v) == width and all(
                isinstance(t, int | float) and not isinstance(t, bool) and np.isfinite(t) for t in v)
            for v in s.values())
        if not ok or min(s["std"]) <= 0:
            raise CheckpointError(f"{path}: the scaling of {key} is not {width} finite means and positive "
                                  "standard deviations", fix)
    return scaling


def is_image_run(run: str | Path) -> bool:
    """Does the run folder hold an image model (its ``scaling.json`` records an image shape)?
    ``False`` when unreadable: reading the run says why."""
    try:
        x = json.loads((Path(run) / "scaling.json").read_text()).get("x")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(x, dict) and "image_shape" in x


def _read_run(run: str | Path) -> tuple[GenerativeModel, dict[str, Any], dict[str, Any]]:
    path = Path(run)
    for name in ("config.json", "scaling.json"):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not a gentransfer run folder (no {name})",
                                  "point to a folder written by fit-source or fit-target")
    try:
        config = json.loads((path / "config.json").read_text())
        scaling = json.loads((path / "scaling.json").read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: a run file is not valid JSON ({err})", "re-create the run") from None
    model = load_pretrained(path / "model")
    if not isinstance(model, GenerativeModel | LatentModel):
        raise CheckpointError(f"{path} holds a {type(model).__name__}, not a model of the CLI's families",
                              "point to a folder written by fit-source or fit-target")
    if not all(torch.isfinite(t).all() for t in model.state_dict().values()):
        raise CheckpointError(f"the model in {path} has NaN or inf weights", "re-create the run")
    return model, config, _check_scaling(scaling, model, path / "scaling.json")


def heldout_check(model: GenerativeModel, scaling: dict[str, Any], data: Table, val: np.ndarray,
                  train: np.ndarray, seed: int = 0) -> dict[str, Any] | None:
    """W1 between the model's samples and held-out rows, beside the real-vs-real floor.

    The floor is W1 between as many training rows as there are held-out rows and the held-out
    rows; the model's W1 replaces those training rows by one sample each, drawn given that row's
    conditions, so both see the same conditions and differ only in x. Scored on (x, z, z^c)
    jointly, each column divided by its standard deviation in the data. Also the share of
    generated values outside the range of the data. ``None`` when fewer than 2 rows are held out.
    """
    from gentransfer.metrics import wasserstein1

    rng = np.random.default_rng(seed)
    val = val if len(val) <= CHECK_ROWS else rng.choice(val, CHECK_ROWS, replace=False)
    if len(val) < 2 or len(train) < 2:
        return None
    ref = rng.choice(train, min(len(val), len(train)), replace=False)
    take = lambda a, rows: None if a is None else a[rows]  # noqa: E731
    gen = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        conditional = data.z is not None or data.zc is not None
        u = model.sample(z=_apply(take(data.z, ref), scaling["z"]), zc=_apply(take(data.zc, ref), scaling["zc"]),
                         n=None if conditional else len(ref), generator=gen).cpu().numpy()
    fake = scaling["x"].inverse(u)
    sd = np.where(data.x.std(axis=0) > 0, data.x.std(axis=0), 1.0)

    def joint(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        parts = [x / sd] + [(a[rows] - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1.0)
                            for a in (data.z, data.zc) if a is not None]
        return np.concatenate(parts, axis=1)

    w1 = wasserstein1(joint(fake, ref), joint(data.x[val], val))
    floor = wasserstein1(joint(data.x[ref], ref), joint(data.x[val], val))
    lo, hi = data.x.min(axis=0), data.x.max(axis=0)
    outside = float(((fake < lo) | (fake > hi)).mean())
    return {"w1": float(w1), "floor": float(floor), "ratio": float(w1 / floor) if floor > 0 else float("inf"),
            "rows": int(len(val)), "outside_range": outside}


def _say_check(check: dict[str, Any] | None, log) -> None:
    if check is None:
        log("held-out check: too few held-out rows to score")
        return
    log(f"held-out check: W1 {check['w1']:.4f} on {check['rows']} held-out rows, real-vs-real floor "
        f"{check['floor']:.4f} ({check['ratio']:.2f}x); {check['outside_range']:.1%} of sampled values "
        "outside the data's range")
    if check["ratio"] > FAR_ABOVE_FLOOR:
        log(f"warning: the model is far above the floor ({check['ratio']:.1f}x): it has not learnt the data "
            "well; try more --steps, a larger model (--hidden), or check the data")


def _write_run(run: Path, model: GenerativeModel, config: dict[str, Any], scaling: dict[str, Any],
               metrics: dict[str, Any]) -> None:
    model.save_pretrained(run / "model")
    write_json(run / "scaling.json", {**scaling, "x": scaling["x"].to_dict()})
    write_json(run / "metrics.json", metrics)
    write_json(run / "config.json", config)  # last: a folder with a config is a finished run


def _check_image_settings(arch: ModelSettings, family: str, data: Table) -> None:
    if family != "diffusion":
        raise ConfigError(f"{data.source} holds images, which the UNet diffusion models", "pass --family diffusion")
    given = sorted(k for k in ("embed_dim", "depth", "n_classes", "latent_dim") if getattr(arch, k) is not None)
    if given:
        raise ConfigError(f"{given} do not apply to images (a UNet: --hidden is its base width; classes come "
                          "from the data)", f"drop {given}")
    if data.zc is not None:
        raise DataError(f"{data.source}: images take class labels z only", "drop zc")


def _image_labels(data: Table, src_config: dict[str, Any], source: str | Path) -> Table:
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


def _check_init_seed(init_seed: Any) -> None:
    if init_seed is not None and (not isinstance(init_seed, int) or isinstance(init_seed, bool)
                                  or not 0 <= init_seed <= MAX_SEED):
        raise ConfigError(f"init_seed must be an integer in 0..2^62, got {init_seed!r}", "pass --init-seed 0 or more")


def _fit_model(model: GenerativeModel | LatentModel, x: np.ndarray, z: np.ndarray | None, zc: np.ndarray | None,
               cfg: TrainConfig, checkpoint_dir: Path, resume: bool, *, refine: bool):
    """:func:`fit` for a family's model; :func:`fit_latent`'s stages for a latent model, each on the
    same settings, and with ``refine`` (a target) the decoder's maximum-likelihood stage at a
    smaller step and batch (the unconditional study's recipe, ``LATENT_DRAWS`` prior draws a step).
    Returns the (last) stage's :class:`FitResult` and extra metrics (every stage's steps, loss and
    seconds)."""
    if not isinstance(model, LatentModel):
        return fit(model, x, z, zc, train=cfg, checkpoint_dir=str(checkpoint_dir), resume=resume), {}
    likelihood = replace(cfg, lr=min(cfg.lr, 1e-3), batch_size=min(cfg.batch_size, 64)) if refine else None
    results = fit_latent(model, x, autoencoder_train=cfg, prior_train=cfg, likelihood_train=likelihood,
                         seed=cfg.seed, draws=LATENT_DRAWS, checkpoint_dir=str(checkpoint_dir), resume=resume)
    stages = {name: {"steps": r.steps, "best_val_loss": r.best_val_loss, "seconds": round(r.seconds, 3)}
              for name, r in results.items()}
    return list(results.values())[-1], {"stages": stages}


def fit_source(data: Table, family: str, out: str | Path, *, model: ModelSettings | dict[str, Any] | None = None,
               train: TrainConfig | dict[str, Any] | None = None, overwrite: bool = False, resume: bool = False,
               bounds: str | tuple[float, float] = "auto", settings: dict[str, Any] | None = None,
               init_seed: int | None = None, device: str = "cpu", score_heldout: bool = True,
               log=print) -> Path:
    """Fit a source model of ``family`` on ``data`` (``x``, shared ``z``, optional ``zc``) into ``out``.

    ``train`` holds the training settings, its ``seed`` included (split, batches, and the initial
    weights unless ``init_seed`` seeds them apart); ``bounds`` the ranges of x
    (:class:`~gentransfer.data.columns.ColumnTransform`); ``settings`` are extra entries recorded
    in the run's ``config.json``. ``device``: cpu, cuda or auto. ``score_heldout=False`` skips the
    held-out check (it samples up to ``CHECK_ROWS`` rows; a benchmark that scores its own way
    need not pay for it).
    """
    family_cls = get_family(family)
    arch = model if isinstance(model, ModelSettings) else ModelSettings.from_dict(model)
    cfg = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(train or {})
    _check_init_seed(init_seed)
    where = device_of(device)
    if data.z is None and (arch.n_classes is not None or arch.embed_dim is not None):
        raise DataError(f"{data.source} has no shared conditions z, but --n-classes / --embed-dim describe them",
                        "name the shared condition columns (--z-columns) or store array 'z'")
    if arch.latent_dim is not None and (data.z is not None or data.zc is not None):
        raise DataError(f"{data.source} has conditions, but --latent-dim fits the unconditional latent model",
                        "drop --latent-dim (a conditional model shares h(z)), or fit x alone")
    if arch.latent_dim is not None:
        log(f"no shared conditions z: the paper's unconditional model, a shared latent law P_U on "
            f"R^{arch.latent_dim} (a {family} model) and a decoder into x; a target keeps P_U (freeze-shared) "
            "or fits its own (scratch, finetune, auto)")
    elif data.z is None:
        log("no shared conditions z: a plain model of x (a target transfers it by finetune, lora or auto; "
            "--latent-dim K fits the paper's shared latent law P_U instead)")
    elif arch.n_classes is not None and data.z.shape[1] != 1:
        raise DataError(f"{data.source}: class labels need one z column, got {data.z.shape[1]}",
                        "pass a single label column as z")
    if data.image_shape is not None:
        _check_image_settings(arch, family, data)
    elif any(getattr(arch, k) is not None for k in IMAGE_ONLY):
        given = [k for k in IMAGE_ONLY if getattr(arch, k) is not None]
        raise ConfigError(f"{given} set a UNet, but {data.source} is a table", f"drop {given} (they apply to images)")
    columns = (PixelScale(data.image_shape) if data.image_shape is not None
               else ColumnTransform.fit(data.x, bounds, data.source))
    scaling = {"x": columns, "z": _stats(data.z, "z", data.source), "zc": _stats(data.zc, "zc", data.source)}
    kwargs = arch.constructor_args(family)
    torch.manual_seed(cfg.seed if init_seed is None else init_seed)  # before any weights are made
    if data.image_shape is not None:  # a UNet; class labels (if any) through the shared class embedding
        n_classes = None if data.z is None else len(data.classes) if data.classes else int(data.z.max()) + 1
        width = kwargs.pop("hidden", 16)
        blocks = kwargs.pop("block_out_channels", None) or [width, 2 * width, 2 * width]
        net = unet_diffusion(data.image_shape, n_classes, block_out_channels=blocks, **kwargs)
        scaling["z"] = None
    elif arch.latent_dim is not None:
        net = LatentModel(x_dim=columns.model_width, latent_dim=arch.latent_dim, prior_family=family,
                          prior_config=kwargs)
    else:
        if arch.n_classes is not None:  # z is a class label: h is a lookup table, and z is not standardised
            kwargs["embedding"] = SharedEmbedding(1, arch.embed_dim or 4, n_classes=arch.n_classes)
            scaling["z"] = None
        elif arch.embed_dim is not None:
            kwargs["embed_dim"] = arch.embed_dim
        net = family_cls(x_dim=columns.model_width, z_dim=0 if data.z is None else data.z.shape[1],
                         zc_dim=0 if data.zc is None else data.zc.shape[1], **kwargs)
    x = _training_rows(data.x, scaling["x"], cfg.seed)
    z, zc = _apply(data.z, scaling["z"]), _apply(data.zc, scaling["zc"])
    net.validate(x, z, zc)
    check_rows(len(x), cfg.val_fraction)
    final = check_out(out, overwrite=overwrite, resume=resume)
    config = {**(settings or {}), "role": "source", "family": family, "model": asdict(arch), "train": asdict(cfg),
              "columns": columns.describe(), "classes": list(data.classes) if data.classes else None}
    _log_columns(columns, log)
    with run_transaction(final, overwrite=overwrite, resume=resume) as run:
        net.to(where)
        result, stages = _fit_model(net, x, z, zc, cfg, run / "checkpoints", resume, refine=False)
        check = None
        if score_heldout:
            train_rows, val_rows = split_rows(len(x), cfg.val_fraction, cfg.seed)
            check = heldout_check(net, scaling, data, val_rows, train_rows, cfg.seed)
            _say_check(check, log)
        _write_run(run, net, config, scaling, {**result.to_dict(), **stages, "heldout_check": check})
    return final


def _check_target_kind(src_model: GenerativeModel | LatentModel, data: Table, strategy: str,
                       source: str | Path) -> tuple[bool, bool]:
    """The target data and strategy against the source's kind: a latent model (no conditions; no
    lora), a plain model (no z; nothing to freeze) or a conditional one (the same z). Returns
    ``(latent, plain)``."""
    latent = isinstance(src_model, LatentModel)
    plain = src_model.z_dim == 0 and not latent
    if latent and strategy == "lora":
        raise ConfigError(f"the source in {source} is a latent model (P_U and a decoder): lora is not offered for it",
                          "choose scratch, freeze-shared, finetune or auto")
    if latent and (data.z is not None or data.zc is not None):
        raise DataError(f"{data.source} has conditions, but the source in {source} is the unconditional latent model",
                        "drop z and zc from the target")
    if plain and data.z is not None:
        raise DataError(f"{data.source} has shared conditions z, but the source in {source} was fitted without them",
                        "drop z from the target, or fit the source on data with z")
    if plain and strategy == "freeze-shared":
        raise ConfigError(f"the source in {source} has no shared part to freeze (it was fitted without z)",
                          "choose scratch, finetune, lora or auto; or fit the source with --latent-dim (P_U)")
    if data.z is None and not plain and not latent:
        raise DataError(f"{data.source} has no shared conditions z",
                        f"give the target the source's shared block z ({src_model.z_dim} columns)")
    if not plain and not latent and data.z.shape[1] != src_model.z_dim:
        raise DataError(f"{data.source}: z has {data.z.shape[1]} columns but the source's shared block has "
                        f"{src_model.z_dim}", "give the target the same shared condition columns as the source")
    return latent, plain


def fit_target(source: str | Path, data: Table, strategy: str, out: str | Path, *,
               train: TrainConfig | dict[str, Any] | None = None, overwrite: bool = False, resume: bool = False,
               bounds: str | tuple[float, float] = "auto", settings: dict[str, Any] | None = None,
               init_seed: int | None = None, warm_start: bool = False, lr_scale: float | None = None,
               device: str = "cpu", score_heldout: bool = True, log=print) -> Path:
    """Transfer the model in run folder ``source`` to ``data`` under ``strategy`` (or ``auto``).

    The target's x columns get their own transform (its constant and bounded columns); where
    its modelled columns differ from the source's, warm starts copy only the layers whose shapes
    agree. ``init_seed`` seeds the target's fresh weights (scratch's model, freeze-shared's head,
    LoRA's adapters) apart from ``train``'s seed; ``warm_start`` starts freeze-shared's head from
    the source's weights (the paper's MNIST -> USPS recipe; :func:`gentransfer.transfer`);
    ``lr_scale`` is the factor on the learning rate (unset: the strategy's own, 0.3 for a warm
    start; 1.0 trains every strategy at one rate); ``device`` and ``score_heldout`` as in
    :func:`fit_source`."""
    if strategy != "auto" and strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}", f"use one of {[*STRATEGIES, 'auto']}")
    if warm_start and strategy not in ("freeze-shared", "auto"):
        raise ConfigError(f"--warm-start applies to freeze-shared (its head), not to {strategy}",
                          "drop --warm-start (finetune and lora always start from the source, scratch never)")
    cfg = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(train or {})
    _check_init_seed(init_seed)
    where = device_of(device)
    src_model, src_config, src_scaling = _read_run(source)
    src_image = isinstance(src_scaling["x"], PixelScale)
    if src_image != (data.image_shape is not None) or (src_image and data.image_shape != src_scaling["x"].shape):
        what = (f"images of shape {src_scaling['x'].shape}" if src_image else "a table")
        got = f"images of shape {data.image_shape}" if data.image_shape is not None else "a table"
        raise DataError(f"{data.source} holds {got}, but the source in {source} was fitted on {what}",
                        "give the target data of the source's kind and shape")
    data = _image_labels(data, src_config, source)
    latent, plain = _check_target_kind(src_model, data, strategy, source)
    n = len(data.x)
    n_val = round(AUTO_FRACTION * n)
    if strategy == "auto" and n_val < AUTO_MIN_VALIDATION:
        raise DataError(f"{data.source} has {n} rows: too few for the validation split that --strategy auto needs",
                        f"pass at least {int(np.ceil(AUTO_MIN_VALIDATION / AUTO_FRACTION))} target rows, "
                        "or choose a strategy")
    columns = src_scaling["x"] if src_image else ColumnTransform.fit(data.x, bounds, data.source)
    scaling = {"x": columns, "z": src_scaling["z"], "zc": _stats(data.zc, "zc", data.source)}
    x, z, zc = _training_rows(data.x, columns, cfg.seed), _apply(data.z, scaling["z"]), _apply(data.zc, scaling["zc"])
    dims = {"x_dim": columns.model_width} if latent else {"x_dim": columns.model_width,
                                                          "zc_dim": 0 if data.zc is None else data.zc.shape[1]}
    candidates = [s for s in AUTO_STRATEGIES if not (plain and s == "freeze-shared")]  # nothing to freeze
    names = candidates if strategy == "auto" else [strategy]
    targets = {}
    for name in names:  # built (and their inputs checked) before anything is written
        torch.manual_seed(cfg.seed if init_seed is None else init_seed)
        warm = True if warm_start and name == "freeze-shared" else None  # None: the strategy's own default
        targets[name] = transfer(src_model, name, warm_start=warm, lr_scale=lr_scale, **dims)
    targets[names[0]].validate(x, z, zc)
    check_rows(n - n_val if strategy == "auto" else n, cfg.val_fraction)
    final = check_out(out, overwrite=overwrite, resume=resume)
    config = {**(settings or {}), "role": "target", "source": str(source), "strategy": strategy,
              "family": src_config.get("family"), "train": asdict(cfg), "columns": columns.describe(),
              "classes": src_config.get("classes")}
    _log_columns(columns, log)
    with run_transaction(final, overwrite=overwrite, resume=resume) as run:
        for model in targets.values():
            model.to(where)
        if strategy != "auto":
            target = targets[strategy]
            if target.transfer_plan.adapters:
                a = target.transfer_plan.adapters
                log(f"lora: rank-{a['rank']} adapters on {len(a['targets'])} layers of the head (by default "
                    f"1/{WIDTH_PER_RANK} of their median width, at least {MIN_RANK}); every source weight frozen")
            result, stages = _fit_model(target, x, z, zc, cfg, run / "checkpoints", resume, refine=True)
            metrics = {"strategy": strategy, **result.to_dict(), **stages}
            train_rows, val_rows = split_rows(n, cfg.val_fraction, cfg.seed)
        else:
            perm = np.random.default_rng(cfg.seed).permutation(n)
            val, fit_rows = perm[:n_val], perm[n_val:]
            take = lambda a, rows: None if a is None else a[rows]  # noqa: E731
            losses, fits, stages = {}, {}, {}
            for name, model in targets.items():
                fits[name], stages[name] = _fit_model(model, take(x, fit_rows), take(z, fit_rows), take(zc, fit_rows),
                                                      cfg, run / "candidates" / name, resume, refine=True)
                losses[name] = model.heldout_loss_rows(take(x, val), take(z, val), take(zc, val), seed=cfg.seed)
                model.save_pretrained(run / "candidates" / name / "model")  # each alternative, to inspect
            choice = choose_strategy(losses, rule=targets[names[0]].guard_rule)
            write_json(run / "transfer_report.json", choice.to_dict())
            log(choice.table())
            target = targets[choice.chosen]
            metrics = {**fits[choice.chosen].to_dict(), **stages[choice.chosen], "strategy": choice.chosen,
                       "auto": choice.to_dict()}
            train_rows, val_rows = fit_rows, val  # scored on the guard's validation rows
        metrics["heldout_check"] = None
        if score_heldout:
            metrics["heldout_check"] = heldout_check(target, scaling, data, val_rows, train_rows, cfg.seed)
            _say_check(metrics["heldout_check"], log)
        _write_run(run, target, config, scaling, metrics)
    return final


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
    model, config, scaling = _read_run(run)
    model.to(where)
    draw = model.sample if guidance is None else _guided(model, config, scaling, run, guidance, where).sample
    image = isinstance(scaling["x"], PixelScale)
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
        x = draw(_apply(z, scaling["z"]), _apply(zc, scaling["zc"]), generator=gen).cpu().numpy()
        out.update({k: v for k, v in (("z", z), ("zc", zc)) if v is not None})
    if not np.isfinite(x).all():
        raise CheckpointError(f"the model in {run} generated NaN or inf values", "re-fit the run (lower lr)")
    out["x"] = scaling["x"].inverse(x)
    if not np.isfinite(out["x"]).all():
        raise CheckpointError(f"the model in {run} generated NaN or inf values", "re-fit the run (lower lr)")
    if image:
        out["x"] = out["x"].reshape(len(x), *scaling["x"].shape)
    return out


def _guided(model: GenerativeModel, config: dict[str, Any], scaling: dict[str, Any], run: str | Path,
            weight: float, where: torch.device):
    """The target in ``run`` guided by the source run it was fitted from (Domain Guidance)."""
    from gentransfer.diffusion.guidance import DomainGuidance

    if config.get("role") != "target" or not isinstance(config.get("source"), str):
        raise ConfigError(f"domain guidance samples a target with its source, and {run} is not a fit-target run",
                          "pass a run written by fit-target, or drop --domain-guidance")
    source, _, src_scaling = _read_run(config["source"])
    if src_scaling["x"].to_dict() != scaling["x"].to_dict():
        raise ConfigError(f"domain guidance needs the source in {config['source']} to model x on the target's "
                          "scale, and the two runs scale x differently (a table's columns are scaled per run)",
                          "use it on image runs, or drop --domain-guidance")
    return DomainGuidance(model, source.to(where), weight)


def evaluate_run(run: str | Path, data: Table, *, seed: int = 0, nll_rows: int = NLL_ROWS) -> dict[str, Any]:
    """Score the run in folder ``run`` on held-out rows ``data`` (x with the run's conditions).

    Returns the mean negative log-likelihood per row in the data's units with its standard error
    (flows exact; diffusion through the probability-flow ODE; a latent model by Monte Carlo over
    4,096 draws of its prior; at most ``nll_rows`` rows, a seeded subset), and sample metrics given
    the test conditions: the rows are split in halves A and B; the floors are W1 and MMD^2
    between A and B, the model's scores replace A's x by one sample per row given A's conditions
    (the same conditions, so only x differs); for a class-label model also W1 within each class,
    averaged over classes weighted by rows. Constant columns
    are not scored in the likelihood (they have no density).
    """
    from gentransfer.metrics import mmd2_unbiased, wasserstein1

    model, config, scaling = _read_run(run)
    columns: ColumnTransform | PixelScale = scaling["x"]
    if data.x is None:
        raise DataError(f"{data.source} has no x to score", "pass held-out rows with their x")
    data = _image_labels(data, config, run)  # a PNG folder's class names as the run's class indices
    if data.x.shape[1] != columns.width:
        raise DataError(f"{data.source}: x has {data.x.shape[1]} columns but the run in {run} models {columns.width}",
                        "pass held-out rows of the same table")
    if len(data.x) < 4:
        raise DataError(f"{data.source} has {len(data.x)} rows: too few to score", "pass at least 4 held-out rows")
    model.validate(None, data.z, data.zc)  # the conditions the model needs, in the user's units
    z, zc = _apply(data.z, scaling["z"]), _apply(data.zc, scaling["zc"])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(data.x), min(nll_rows, len(data.x)), replace=False))
    take = lambda a: None if a is None else a[rows]  # noqa: E731
    torch.manual_seed(seed)
    with torch.no_grad() if model.family in ("flow", "latent") else torch.enable_grad():
        log_u = model.log_prob(columns.forward(data.x[rows]), take(z), take(zc)).detach().cpu().numpy()
    nll = -(log_u + columns.log_abs_det(data.x[rows]))
    # two halves A and B of the rows: the floor is W1(x_A, x_B); the model's W1 replaces x_A by one
    # sample per row of A given A's conditions, so both compare the same conditions with B
    perm = rng.permutation(len(data.x))
    a, b = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])
    cond = lambda t: None if t is None else t[a]  # noqa: E731
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        fake = columns.inverse(model.sample(z=cond(z), zc=cond(zc), n=None if z is not None or zc is not None
                                            else len(a), generator=gen).cpu().numpy())
    result = {"run": str(run), "family": config.get("family"), "strategy": config.get("strategy", "source"),
              "rows": len(data.x), "nll": float(nll.mean()), "nll_se": float(nll.std(ddof=1) / np.sqrt(len(nll))),
              "nll_rows": len(nll), "w1": wasserstein1(fake, data.x[b]), "w1_floor": wasserstein1(data.x[a], data.x[b]),
              "mmd2": mmd2_unbiased(data.x[b], fake), "mmd2_floor": mmd2_unbiased(data.x[b], data.x[a])}
    embedding = getattr(model, "embedding", None)
    if embedding is not None and embedding.config.get("n_classes") and data.z is not None:
        la, lb = data.z[a, 0], data.z[b, 0]
        per = {int(c): wasserstein1(fake[la == c], data.x[b][lb == c])
               for c in np.unique(data.z[:, 0]) if (la == c).sum() >= 2 and (lb == c).sum() >= 2}
        labels = lb
        result["w1_per_class"] = per
        result["w1_class_mean"] = float(sum(per[c] * (labels == c).sum() for c in per) /
                                        sum((labels == c).sum() for c in per))
    return result


def evaluation_cells(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Runs side by side: the header and one row of formatted cells per run."""
    per_class = any("w1_class_mean" in r for r in results)
    head = ["run", "family", "strategy", "NLL per row (± se)", "W1", "W1 floor", "MMD^2", "MMD^2 floor"] + (
        ["W1 within class"] if per_class else [])
    rows = []
    for r in results:
        cells = [r["run"], str(r["family"]), str(r["strategy"]), f"{r['nll']:.3f} ± {r['nll_se']:.3f}",
                 f"{r['w1']:.4f}", f"{r['w1_floor']:.4f}", f"{r['mmd2']:.5f}", f"{r['mmd2_floor']:.5f}"]
        cells += [f"{r['w1_class_mean']:.4f}" if "w1_class_mean" in r else "—"] if per_class else []
        rows.append(cells)
    return head, rows


def evaluation_table(results: list[dict[str, Any]]) -> str:
    """Runs side by side: one markdown row per run."""
    head, rows = evaluation_cells(results)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows]) + "\n"
