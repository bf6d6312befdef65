"""The settings of the MNIST -> USPS benchmark (:class:`DigitsStudy`: every config key and flag)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gentransfer.errors import ConfigError
from gentransfer.names import DEVICES, SamplerName
from gentransfer.pipeline.settings import IMAGE_ONLY, ModelSettings
from gentransfer.settings import MAX_SEED, settings_from_dict
from gentransfer.transfer.strategies import MODEL_STRATEGIES

__all__ = ["DigitsStudy", "ARMS", "SHARED_PART_ARMS", "HELDOUT_SIZE", "unet_settings"]

# the transfer strategies; freeze-shared with its head started from the source's weights (the paper's
# MNIST -> USPS recipe, apart from the SEC estimator's fresh head); the source model sampled as it is
# (the domain gap, no target data); the finetune model sampled with Domain Guidance
ARMS = (*MODEL_STRATEGIES, "freeze-shared-warm", "source-only", "domain-guidance")
SHARED_PART_ARMS = ("freeze-shared", "freeze-shared-warm")  # they need a shared part to freeze
HELDOUT_SIZE = 2188  # USPS images of the paper split's held-out 30%


@dataclass
class DigitsStudy:
    """Every setting of the digits benchmark (config keys; ``configs/digits-*.toml`` set them).

    Attributes:
        setting: conditional (class-conditional, all digits) or unconditional (digit `digit` only).
        n_source: MNIST source sizes n_s.
        n_target: USPS target sizes n_t: seeded, class-stratified subsets of the fit images, nested
            across n_t; a size above the fit split's (5,103 images; 459 threes) takes all of it, and
            the rows record the images used as n_fit.
        n_source_sweep_at: the target sizes at which the transfer arms run at every n_s; at the others
            only at the largest n_s (empty: every n_t, a full factorial grid).
        seeds: seeds; each fixes the MNIST subset, the source's and the target's initial weights.
        strategies: the arms: transfer strategies; freeze-shared-warm (freeze-shared with its head
            started from the source's weights); source-only (the MNIST model sampled as it is);
            domain-guidance (the finetune arm's model sampled with the source's guidance at the
            weight of `guidance_weights` with the lowest held-out error on its validation images).
        split_seed: seed of the USPS 70/30 paper split.
        digit: the digit of the unconditional setting.
        source_digit_only: unconditional: pre-train on MNIST images of `digit` only.
        warm_start: freeze-shared starts the UNet from the source's weights, class embedding frozen (the paper's
            recipe); false fits a fresh UNet around the frozen embedding (the SEC estimator).
        target_lr_scale: factor on the target's learning rate for every transfer arm (unset: each
            strategy's own, 0.3 for a warm start; 1.0: every arm at scratch's rate).
        guidance_weights: the Domain Guidance weights the domain-guidance arm chooses from.
        target_eval_passes: evaluate a target fit every this many passes over its training images
            (at least 10 steps, at most target_train's eval_every; patience counts these evaluations):
            a fit on 45 images overfits within a hundred steps, one on 4,593 in thousands. 0: every
            target fit evaluates every target_train eval_every steps.
        unet: the UNet's architecture.
        source_train, target_train: training settings of the source and target fits.
        source_epochs: a source budget that grows with n_s: at most max(source_train steps,
            source_epochs x n_s / batch size) steps, ended by early stopping on held-out MNIST images at
            its plateau (0: the fixed source_train steps); the steps used are recorded per row.
        sampler: sampler of every arm.
        sample_steps: sampler steps.
        save_models: write every model into the run folder.
        feature_metrics: also score in the USPS classifier's features (FD, KID, precision / recall /
            density / coverage, conditional accuracy, memorisation), each beside its floor.
        eval_size: score on a class-stratified subset of this many held-out USPS images (seeded
            by `split_seed`, the same for every arm and seed), each floor at the same size; 0: all
            2,188. Fewer images make a sample set cheaper and every score noisier. Conditional only.
        device: auto (CUDA when available), cpu or cuda.
    """

    setting: Literal["conditional", "unconditional"] = "conditional"
    n_source: list[int] = field(default_factory=lambda: [1000, 5000, 10000, 60000])
    n_target: list[int] = field(default_factory=lambda: [5103])
    n_source_sweep_at: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    strategies: list[str] = field(default_factory=lambda: ["scratch", "freeze-shared", "finetune"])
    split_seed: int = 0
    digit: int = 3
    source_digit_only: bool = False  # unconditional: pre-train on MNIST images of `digit` only
    # freeze-shared starts the UNet from the source's weights, class embedding frozen: the paper's
    # recipe. False fits a fresh UNet around the frozen embedding (the simulation's SEC estimator).
    warm_start: bool = True
    target_lr_scale: float | None = None
    guidance_weights: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0, 3.0])
    target_eval_passes: float = 0.0
    unet: dict[str, Any] = field(default_factory=lambda: {"block_out_channels": [32, 64, 64],
                                                          "layers_per_block": 1, "attention": False})
    source_epochs: float = 0.0
    source_train: dict[str, Any] = field(default_factory=lambda: {
        "steps": 1500, "batch_size": 128, "lr": 1e-3, "val_fraction": 0.05, "eval_every": 250, "patience": 4,
        "ema_decay": 0.995, "val_repeats": 2})
    target_train: dict[str, Any] = field(default_factory=lambda: {
        "steps": 1500, "batch_size": 128, "lr": 1e-3, "val_fraction": 0.05, "eval_every": 250, "patience": 4,
        "ema_decay": 0.995, "val_repeats": 2})
    sampler: SamplerName = "sde-dpm++"
    sample_steps: int = 20
    save_models: bool = True
    feature_metrics: bool = False
    eval_size: int = 0
    device: str = "auto"  # "auto": CUDA when available, else CPU

    def check(self) -> None:
        from gentransfer.experiments import check_settings  # joblib and matplotlib: not for --help

        check_settings(self)
        if self.setting not in ("conditional", "unconditional"):
            raise ConfigError(f"unknown setting {self.setting!r}", "use 'conditional' or 'unconditional'")
        if self.setting == "unconditional" and set(SHARED_PART_ARMS) & set(self.strategies):
            raise ConfigError("freeze-shared needs a shared part, and the unconditional UNet has none",
                              "use --strategies scratch,finetune for the unconditional setting")
        if self.warm_start and {"freeze-shared", "freeze-shared-warm"} <= set(self.strategies):
            raise ConfigError("with warm_start, freeze-shared is freeze-shared-warm: the arm would run twice",
                              "set warm_start = false (freeze-shared: the SEC estimator's fresh head)")
        if "domain-guidance" in self.strategies and "finetune" not in self.strategies:
            raise ConfigError("domain-guidance samples the finetune arm's model", "add finetune to --strategies")
        if self.target_eval_passes < 0:
            raise ConfigError(f"target_eval_passes must be >= 0, got {self.target_eval_passes}", "pass e.g. 10, or 0")
        if self.target_lr_scale is not None and not 0 < self.target_lr_scale <= 10:
            raise ConfigError(f"target_lr_scale must be in (0, 10], got {self.target_lr_scale}", "pass e.g. 1.0")
        if not self.guidance_weights or any(not math.isfinite(w) for w in self.guidance_weights):
            raise ConfigError(f"guidance_weights must be finite numbers, got {self.guidance_weights}",
                              "pass e.g. [1.0, 1.5, 2.0]")
        bad = sorted(set(self.strategies) - set(ARMS))
        if bad or not self.strategies:
            raise ConfigError(f"unknown or no strategies: {bad or self.strategies}", f"choose from {list(ARMS)}")
        if any(n < 10 or n > 60000 for n in self.n_source):
            raise ConfigError(f"n_source values must be in 10..60000, got {self.n_source}", "fix --n-source")
        if self.source_epochs < 0:
            raise ConfigError(f"source_epochs must be >= 0, got {self.source_epochs}", "pass e.g. 20, or 0")
        if not self.n_target or any(n < 10 or n > 5103 for n in self.n_target):
            raise ConfigError(f"n_target values must be in 10..5103 (the USPS fit split), got {self.n_target}",
                              "fix --n-target")
        if self.eval_size and self.setting == "unconditional":
            raise ConfigError("eval_size applies to the conditional setting (the threes' held-out set is small)",
                              "drop --eval-size")
        if self.eval_size and not 100 <= self.eval_size <= HELDOUT_SIZE:
            raise ConfigError(f"eval_size must be 0 (every held-out image) or in 100..{HELDOUT_SIZE}, got "
                              f"{self.eval_size}", "pass e.g. --eval-size 1000, or 0 for all")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}", f"use one of {list(DEVICES)}")
        if any(not 0 <= seed <= MAX_SEED - 2 for seed in self.seeds):  # seed + 2 seeds the samples
            raise ConfigError(f"seeds must be in 0..2^62 - 2, got {self.seeds}", "fix --seeds")
        unknown = sorted(set(self.unet) - {"hidden", *IMAGE_ONLY})
        if unknown:
            raise ConfigError(f"unet settings {unknown} are not a UNet's", f"use only {['hidden', *IMAGE_ONLY]}")
        settings_from_dict(ModelSettings, unet_settings(asdict(self)), "unet settings")  # what fit-source is given
        if set(self.n_source_sweep_at) - set(self.n_target):
            raise ConfigError(f"n_source_sweep_at {self.n_source_sweep_at} names sizes not in n_target "
                              f"{self.n_target}", "choose values of --n-target")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)




def unet_settings(s: dict[str, Any]) -> dict[str, Any]:
    """The study's UNet and sampler as ``fit-source``'s model settings."""
    return {**s["unet"], "sampler": s["sampler"], "sample_steps": s["sample_steps"]}
