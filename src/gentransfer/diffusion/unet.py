"""A Diffusers ``UNet2DModel`` as the noise predictor of :class:`DiffusionModel`.

The diffusion model works on flattened vectors (so metrics, likelihoods and validation are the
same for every network); this adapter reshapes them to ``C x H x W`` images for the UNet. The
class embedding is *not* inside the UNet: the UNet is built with ``class_embed_type="identity"``
and receives ``e = h(y)`` from the model's :class:`~gentransfer.nn.SharedEmbedding`, so the
embedding stays a separate object that transfer strategies hand over and freeze.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gentransfer.config import ConfigMixin, register, register_to_config
from gentransfer.errors import ConfigError, DataError

__all__ = ["UNetEps", "unet_time_embed_dim", "unet_diffusion"]

# t in [eps, 1] maps to diffusers' usual timestep range, where its sinusoidal embedding is tuned.
TIME_SCALE = 1000.0


def unet_time_embed_dim(block_out_channels: list[int]) -> int:
    """Width of the UNet's time embedding, which a class embedding must match."""
    return 4 * block_out_channels[0]


@register
class UNetEps(ConfigMixin, nn.Module):
    """``eps(x_t, t, e)`` by a ``diffusers.UNet2DModel``.

    Args:
        x_dim: ``channels * sample_size**2`` (checked).
        cond_dim: width of ``e``: 0 (unconditional) or the UNet's time-embedding width.
        sample_size: image side length.
        channels: image channels.
        block_out_channels: channels per resolution, e.g. ``[32, 64, 64]``.
        layers_per_block: ResNet layers per block.
        attention: use attention blocks at the lowest resolution (costly on CPU).
        norm_num_groups: GroupNorm groups.
    """

    @register_to_config
    def __init__(self, x_dim: int, cond_dim: int = 0, sample_size: int = 16, channels: int = 1,
                 block_out_channels: list[int] | None = None, layers_per_block: int = 1, attention: bool = False,
                 norm_num_groups: int = 8):
        super().__init__()
        from diffusers import UNet2DModel

        blocks = list(block_out_channels or [32, 64, 64])
        if x_dim != channels * sample_size**2:
            raise ConfigError(f"x_dim={x_dim} is not channels x sample_size^2 = {channels * sample_size**2}",
                              "flatten images to channels * side * side columns")
        if cond_dim not in (0, unet_time_embed_dim(blocks)):
            raise ConfigError(f"the UNet takes a condition of width {unet_time_embed_dim(blocks)}, got {cond_dim}",
                              f"build the class embedding with embed_dim={unet_time_embed_dim(blocks)}")
        self.block_out_channels = blocks
        self.shape = (channels, sample_size, sample_size)
        down = ["DownBlock2D"] * (len(blocks) - 1) + ["AttnDownBlock2D" if attention else "DownBlock2D"]
        up = ["AttnUpBlock2D" if attention else "UpBlock2D"] + ["UpBlock2D"] * (len(blocks) - 1)
        self.unet = UNet2DModel(
            sample_size=sample_size, in_channels=channels, out_channels=channels, block_out_channels=tuple(blocks),
            layers_per_block=layers_per_block, down_block_types=tuple(down), up_block_types=tuple(up),
            norm_num_groups=norm_num_groups, add_attention=attention,
            class_embed_type="identity" if cond_dim > 0 else None,
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        labels = e if e is not None and e.shape[1] > 0 else None
        images = x.reshape(len(x), *self.shape)
        out = self.unet(images, t * TIME_SCALE, class_labels=labels).sample
        return out.reshape(len(x), -1)


def unet_diffusion(image_shape: tuple[int, int, int], n_classes: int | None = None, *,
                   block_out_channels: list[int] | None = None, layers_per_block: int = 1, attention: bool = False,
                   norm_num_groups: int = 8, **diffusion: Any):
    """A :class:`~gentransfer.diffusion.DiffusionModel` on flattened ``C x H x W`` images whose noise
    predictor is a UNet; with ``n_classes``, class-conditional through a shared class embedding
    (``z`` = one column of labels 0..n_classes-1). ``diffusion`` holds the model's other
    arguments (``sampler``, ``sample_steps``, ``schedule``). The one builder of image models: the
    command line's image runs and the MNIST -> USPS benchmark both call it.

    Example:
        >>> m = unet_diffusion((1, 8, 8), n_classes=2, block_out_channels=[8, 16], norm_num_groups=4)
        >>> m.x_dim, m.z_dim, m.sample([[0], [1]]).shape
        (64, 1, torch.Size([2, 64]))
    """
    from gentransfer.diffusion.model import DiffusionModel
    from gentransfer.nn import SharedEmbedding

    channels, height, width = image_shape
    blocks = list(block_out_channels or [32, 64, 64])
    if height != width:
        raise DataError(f"images of {height}x{width}: the UNet takes square images", "crop or pad them to square")
    if height % 2 ** (len(blocks) - 1):
        raise DataError(f"images of {height}x{width}: {len(blocks)} UNet resolutions need a side divisible by "
                        f"{2 ** (len(blocks) - 1)}", "resize the images (e.g. to 16x16 or 32x32)")
    if any(b % norm_num_groups for b in blocks):
        raise ConfigError(f"UNet channels {blocks} are not all divisible by norm_num_groups={norm_num_groups}",
                          "pass channels that are multiples of it")
    x_dim = channels * height * width
    cond_dim = unet_time_embed_dim(blocks) if n_classes else 0
    embedding = SharedEmbedding(1, cond_dim, n_classes=n_classes) if n_classes else None  # first: the seeded
    network = UNetEps(x_dim, cond_dim, sample_size=height, channels=channels, block_out_channels=blocks,  # order
                      layers_per_block=layers_per_block, attention=attention, norm_num_groups=norm_num_groups)
    return DiffusionModel(x_dim=x_dim, z_dim=1 if n_classes else 0, embedding=embedding, network=network, **diffusion)
