"""The architecture a source run is given: :class:`ModelSettings` (every field a flag and a TOML key)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from gentransfer.errors import ConfigError
from gentransfer.names import SamplerName
from gentransfer.settings import check_fields, settings_from_dict

__all__ = ["ModelSettings", "IMAGE_ONLY", "MAX_WIDTH", "MAX_LAYERS", "MAX_SAMPLE_STEPS", "MAX_PARAMETERS",
           "CLASSES_PER_LABEL"]

IMAGE_ONLY = ("block_out_channels", "layers_per_block", "attention", "norm_num_groups")  # the UNet's settings
MAX_WIDTH = 65536  # hidden, embed_dim and every UNet width: one square layer of it is 2^32 weights
MAX_LAYERS = 256  # depth, n_layers and layers_per_block
MAX_SAMPLE_STEPS = 10000  # DDPM's 1,000 steps are the most any sampler here needs
MAX_PARAMETERS = 2**31  # a source model's parameters (8 GiB of float32 weights, ~5x that to train)
CLASSES_PER_LABEL = 10  # n_classes is at most this times (the largest label + 1)
_CAPS = {"embed_dim": MAX_WIDTH, "hidden": MAX_WIDTH, "depth": MAX_LAYERS, "n_layers": MAX_LAYERS,
         "layers_per_block": MAX_LAYERS, "sample_steps": MAX_SAMPLE_STEPS}


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
    sampler: SamplerName | None = None
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
        """Types and ranges; sizes are capped (``MAX_WIDTH``, ``MAX_LAYERS``, ``MAX_SAMPLE_STEPS``)
        before anything is built. The settings measured against the data (``n_classes``,
        ``latent_dim``, the parameter count) are checked by the fit."""
        check_fields(self, where)
        for name in ("embed_dim", "hidden", "depth", "n_layers", "sample_steps", "latent_dim", "layers_per_block",
                     "norm_num_groups"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}", f"pass {name} >= 1")
            if value is not None and value > _CAPS.get(name, value):
                raise ConfigError(f"{name} must be at most {_CAPS[name]}, got {value}",
                                  f"pass a smaller --{name.replace('_', '-')}")
        if self.block_out_channels is not None and (not self.block_out_channels or min(self.block_out_channels) < 1):
            raise ConfigError(f"block_out_channels must be widths >= 1, got {self.block_out_channels}",
                              "pass e.g. --block-out-channels 16,32,32")
        if self.block_out_channels is not None and max(self.block_out_channels) > MAX_WIDTH:
            raise ConfigError(f"block_out_channels must be widths of at most {MAX_WIDTH}, got "
                              f"{self.block_out_channels}", "pass e.g. --block-out-channels 16,32,32")
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
