"""The settings of the two simulation studies (:class:`ConditionalStudy`, :class:`UnconditionalStudy`),
apart from the studies' jobs: the command line declares its flags from them without importing torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gentransfer.errors import ConfigError
from gentransfer.transfer.strategies import MODEL_STRATEGIES

__all__ = ["ConditionalStudy", "UnconditionalStudy", "ROUTES"]

ROUTES = {"freeze-shared": [("latent", "freeze-shared")], "finetune": [("plain", "finetune")],
          "scratch": [("latent", "scratch"), ("plain", "scratch")]}



@dataclass
class ConditionalStudy:
    """Every setting of the study (each a key of a ``--config`` TOML file; the non-table ones flags too).

    Attributes:
        designs: simulation designs (default, misspecified).
        families: model families (flow, diffusion).
        strategies: transfer strategies; scratch is fitted once per seed, the others per n_s.
        n_source: source sizes n_s.
        n_target: target size n_t.
        seeds: seeds; each fixes the target data, the source data and the initial weights.
        embed_dim: size k of the shared embedding h(z).
        flow, diffusion: each family's architecture (constructor arguments).
        source_train, target_train: training settings of the source and target fits.
        n_conditions: conditions at which the true and fitted densities are compared.
        per_condition: samples per condition for the sample-based metrics.
    """

    designs: list[str] = field(default_factory=lambda: ["default", "misspecified"])
    families: list[str] = field(default_factory=lambda: ["flow", "diffusion"])
    strategies: list[str] = field(default_factory=lambda: ["scratch", "freeze-shared", "finetune"])
    n_source: list[int] = field(default_factory=lambda: [500, 1000, 2000, 5000, 10000, 20000])
    n_target: int = 300
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    embed_dim: int = 4
    flow: dict[str, Any] = field(default_factory=lambda: {"hidden": 32})
    diffusion: dict[str, Any] = field(default_factory=lambda: {"hidden": 128, "depth": 3})
    source_train: dict[str, Any] = field(default_factory=lambda: {"steps": 4000, "patience": 10})
    target_train: dict[str, Any] = field(default_factory=lambda: {"steps": 3000, "patience": 5})
    n_conditions: int = 64
    per_condition: int = 64

    @classmethod
    def quick(cls) -> ConditionalStudy:
        """The reduced grid behind ``--quick`` (a few minutes on 2 cores)."""
        return cls(n_source=[500, 2000, 10000], seeds=[0, 1])

    def check(self) -> None:
        from gentransfer.experiments import check_settings
        from gentransfer.experiments.sweep import check_choices
        from gentransfer.families import FAMILIES
        from gentransfer.simulation.designs import DESIGNS

        check_settings(self)
        for family in self.families:
            if family in FAMILIES:
                try:  # the architecture's keys, checked on a tiny model before any job starts
                    FAMILIES[family](x_dim=2, z_dim=1, embed_dim=self.embed_dim, **getattr(self, family))
                except TypeError as err:
                    raise ConfigError(f"{family} settings: {err}", "use the family's constructor arguments") from None
        check_choices(designs=(self.designs, DESIGNS), families=(self.families, FAMILIES),
                      strategies=(self.strategies, MODEL_STRATEGIES))
        if any(n < 1 for n in self.n_source) or self.n_target < 10:
            raise ConfigError("n_source values must be >= 1 and n_target >= 10", "fix the sizes")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UnconditionalStudy:
    """Every setting of the study (each a key of a ``--config`` TOML file; the non-table ones flags too).

    Attributes:
        designs: unconditional designs (default, misspecified).
        families: families of the prior P_U and of the plain models (flow, diffusion).
        strategies: scratch (latent and plain routes), freeze-shared (latent), finetune (plain).
        n_source: source sizes n_s.
        n_target: target size n_t.
        d: ambient dimension of the main grid.
        d_sweep: other d, at the largest n_s.
        seeds: seeds; each fixes the data and the initial weights.
        d_sweep_seeds: the d sweep runs on this many first seeds.
        n_eval: samples scored by W1 against as many fresh target rows.
        latent_dim: dimension of U.
        prior: each family's prior architecture (and of the plain model).
        autoencoder_train, prior_train, likelihood_train: training settings of fit_latent's stages
            (prior_train per family).
        target_restarts: starts of each latent route's target stage (fit_latent(restarts=)).
        target_select: the rule that keeps one start (w1 or likelihood).
    """

    designs: list[str] = field(default_factory=lambda: ["default", "misspecified"])
    families: list[str] = field(default_factory=lambda: ["flow", "diffusion"])
    strategies: list[str] = field(default_factory=lambda: ["scratch", "freeze-shared", "finetune"])
    n_source: list[int] = field(default_factory=lambda: [250, 1000, 4000, 16000])
    n_target: int = 200
    d: int = 8
    d_sweep: list[int] = field(default_factory=lambda: [4, 16])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    d_sweep_seeds: int = 3  # the d sweep runs on the first seeds only (it is the costliest part)
    n_eval: int = 2000
    latent_dim: int = 2
    prior: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "flow": {"coupling": "affine", "n_layers": 6, "hidden": 64},
        "diffusion": {"hidden": 128, "depth": 3}})
    autoencoder_train: dict[str, Any] = field(default_factory=lambda: {"steps": 4000, "lr": 2e-3, "patience": 20})
    # per family: coupling flows need a longer budget to fit the 8 sharp modes of the default
    # latent; early stopping still ends the fits on few rows long before the cap
    prior_train: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "flow": {"steps": 10000, "lr": 2e-3, "patience": 30},
        "diffusion": {"steps": 3000, "lr": 2e-3, "patience": 10}})
    # the target's decoder refined by maximum likelihood through the prior (both latent routes)
    likelihood_train: dict[str, Any] | None = field(default_factory=lambda: {
        "steps": 3000, "lr": 1e-3, "patience": 10, "batch_size": 64})
    # starts of each latent route's target stage, and the rule that keeps one
    # (fit_latent(restarts=, select=))
    target_restarts: int = 1
    target_select: Literal["w1", "likelihood"] = "w1"

    @classmethod
    def quick(cls) -> UnconditionalStudy:
        """A reduced grid with smaller training budgets: 7 minutes on 2 cores (with the full
        budgets a run did 12 of its 24 rows in 9); a check that everything runs, not the
        benchmark's numbers."""
        fast = {"steps": 3000, "lr": 2e-3, "patience": 10}
        return cls(n_source=[500, 5000], seeds=[0], d_sweep=[],
                   autoencoder_train={"steps": 2000, "lr": 2e-3, "patience": 10},
                   prior_train={"flow": fast, "diffusion": fast},
                   likelihood_train={"steps": 1000, "lr": 1e-3, "patience": 10, "batch_size": 64})

    def check(self) -> None:
        from gentransfer.experiments import check_settings
        from gentransfer.experiments.sweep import check_choices
        from gentransfer.families import FAMILIES
        from gentransfer.latent.fitting import SELECTION_RULES
        from gentransfer.simulation.unconditional_designs import UNCONDITIONAL_DESIGNS

        check_settings(self)
        check_choices(designs=(self.designs, UNCONDITIONAL_DESIGNS), families=(self.families, FAMILIES),
                      strategies=(self.strategies, ROUTES))
        if any(n < 1 for n in self.n_source) or self.n_target < 10 or self.d < 1:
            raise ConfigError("n_source values and d must be >= 1 and n_target >= 10", "fix the sizes")
        missing = sorted(set(self.families) - set(self.prior) | set(self.families) - set(self.prior_train))
        if missing:
            raise ConfigError(f"no prior or prior_train settings for families {missing}",
                              "give prior and prior_train an entry per family")
        if self.target_restarts < 1 or self.target_select not in SELECTION_RULES:
            raise ConfigError(f"target_restarts must be >= 1 and target_select one of {sorted(SELECTION_RULES)}, "
                              f"got {self.target_restarts} and {self.target_select!r}", "fix the config")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
