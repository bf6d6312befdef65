"""What every generative model in gentransfer shares.

A model is two distinct objects: the **shared embedding** ``h`` (``self.embedding``, absent when
the model has no shared condition block) and a **task-specific head** (coupling layers, or a
noise-prediction network) that sees only ``e = (h(z), z^c)``. Transfer strategies act on this
split, identically for every family. A model without conditions is an unconditional generative
model (``z_dim = zc_dim = 0``), e.g. the prior ``P_U`` of a latent model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from gentransfer.config import ConfigMixin, build_component
from gentransfer.errors import ConfigError, DataError
from gentransfer.nn import SharedEmbedding

__all__ = ["GenerativeModel", "as_tensor"]


def as_tensor(a: Any, name: str, width: int, n: int | None = None) -> torch.Tensor:
    """Validate one input array at the boundary: numeric, 2-D (1-D becomes a column), finite,
    of the expected width and (optionally) length. Returns float32."""
    if isinstance(a, torch.Tensor):
        t = a.detach().to(torch.float32)
    else:
        try:
            t = torch.as_tensor(np.asarray(a, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise DataError(f"'{name}' is not numeric ({err})", "pass a numeric array") from None
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise DataError(f"'{name}' must be 2-D (rows x columns), got shape {tuple(t.shape)}", "reshape it")
    if len(t) == 0:
        raise DataError(f"'{name}' is empty", "pass at least one row")
    if t.shape[1] != width:
        raise DataError(
            f"'{name}' has {t.shape[1]} columns but the model expects {width}",
            f"pass {width} columns of {name} (the width the model was built with)",
        )
    if not torch.isfinite(t).all():
        raise DataError(f"'{name}' has NaN or inf values", "drop or impute those rows")
    if n is not None and len(t) != n:
        raise DataError(f"'{name}' has {len(t)} rows but x has {n}", "give x and its conditions one row each")
    return t


def _check_labels(z: torch.Tensor, n_classes: int) -> None:
    bad = z[(z != z.round()) | (z < 0) | (z >= n_classes)]
    if len(bad):
        raise DataError(f"unknown class label {float(bad[0]):g} in z (the model knows 0..{n_classes - 1})",
                        f"pass integer labels between 0 and {n_classes - 1}")


class GenerativeModel(ConfigMixin, nn.Module):
    """Base class: an optional shared embedding ``h`` plus a task-specific head.

    A family sets ``family`` (its name in :data:`gentransfer.families.FAMILIES`),
    ``default_ema_decay`` (the weight average :func:`gentransfer.fit` keeps unless told
    otherwise) and, where its training loss is not a likelihood, :meth:`heldout_loss_rows`;
    ``guard_rule`` is how the negative-transfer guard reads those rows
    (:func:`gentransfer.transfer.guard.choose_strategy`).

    Args:
        x_dim: dimension of the generated variable ``x``.
        z_dim: dimension of the shared condition block ``z`` (the input of ``h``); 0 for none.
        zc_dim: dimension of the task-specific conditions ``z^c``; 0 for none.
        embedding: the shared embedding: a :class:`SharedEmbedding` (a source model's: handing it
            over *is* the transfer), its saved config, or ``None`` for a fresh one.
        embed_dim: ``k``, the output size of a fresh embedding.
    """

    family: str = "abstract"
    shared_part = "embedding"  # what a transfer strategy hands from a source to a target
    default_ema_decay = 0.0  # no weight averaging unless the family needs it
    guard_rule = "signed-rank"  # per-row likelihoods are independent given the model: a rank statistic

    def __init__(self, x_dim: int, z_dim: int = 0, zc_dim: int = 0, embedding: Any = None, embed_dim: int = 4):
        super().__init__()
        for name, value, low in (("x_dim", x_dim, 1), ("z_dim", z_dim, 0), ("zc_dim", zc_dim, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", f"pass {name} >= {low}")
        if isinstance(embedding, dict):
            embedding = build_component(embedding)
        if z_dim == 0:  # no shared block: an unconditional model, or one on task-specific zc only
            if embedding is not None:
                raise ConfigError("an embedding was given but z_dim=0", "pass z_dim, the width of the shared z")
        else:
            embedding = SharedEmbedding(z_dim, embed_dim) if embedding is None else embedding
            if not isinstance(embedding, SharedEmbedding):
                raise ConfigError(f"embedding must be a SharedEmbedding, got {type(embedding).__name__}",
                                  "pass source_model.embedding or None")
            if embedding.z_dim != z_dim:
                raise ConfigError(
                    f"the shared embedding takes z of dimension {embedding.z_dim}, but z_dim={z_dim}",
                    f"give the target the same shared block z as the source ({embedding.z_dim} columns)",
                )
        self.x_dim, self.z_dim, self.zc_dim = x_dim, z_dim, zc_dim
        self.embedding = embedding
        self.cond_dim = (embedding.embed_dim if embedding is not None else 0) + zc_dim

    # -- boundary ----------------------------------------------------------------------------
    def validate(
        self, x: Any | None, z: Any | None, zc: Any | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Check ``(x, z, zc)`` against the model's dimensions; return float32 tensors.

        Conditions the model does not take must be absent; those it takes must be present,
        finite, of the right width and of one row per row of ``x``.
        """
        zc = self.with_domain(x, z, zc)
        xt = as_tensor(x, "x", self.x_dim) if x is not None else None
        rows = len(xt) if xt is not None else None
        out: dict[str, torch.Tensor | None] = {}
        for name, value, width in (("z", z, self.z_dim), ("zc", zc, self.zc_dim)):
            out[name] = None
            if width == 0:
                if value is not None and np.size(value) > 0:
                    raise DataError(f"conditions '{name}' were given, but the model takes none", "drop them")
                continue
            if value is None and name == "zc" and self.given_zc_dim == 0:
                continue  # a pooled model of x alone, asked without rows: its domain column is its own
            given = self.given_zc_dim if name == "zc" else width
            if value is None:
                raise DataError(f"the model needs conditions '{name}' ({given} columns)", f"pass {name}")
            if given != width and np.shape(value)[-1] not in (given, width):  # a pooled model's zc
                raise DataError(f"'zc' has {np.shape(value)[-1]} columns but the model expects {given} (a pooled "
                                "model adds its domain indicator itself)", f"pass {given} columns of zc")
            out[name] = as_tensor(value, name, width, rows)
            rows = len(out[name])
            if name == "z" and self.embedding.config.get("n_classes") is not None:
                _check_labels(out["z"], self.embedding.config["n_classes"])
        dev = self.device
        return tuple(None if t is None else t.to(dev) for t in (xt, out["z"], out["zc"]))  # type: ignore[return-value]

    @property
    def domain(self) -> float | None:
        """A pooled model's domain indicator for the target (the last column of its zc), else ``None``."""
        return self.transfer_plan.domain

    @property
    def given_zc_dim(self) -> int:
        """The zc columns a caller gives: all of them, or all but a pooled model's domain column."""
        return self.zc_dim - (self.domain is not None)

    def with_domain(self, x: Any, z: Any, zc: Any, n: int | None = None) -> Any:
        """``zc`` with a pooled model's domain column appended where the caller gave the target's
        conditions without it (rows from x, z, zc or ``n``); anything else as it is."""
        if self.domain is None or (zc is None and self.given_zc_dim > 0):
            return zc  # not pooled; or the target's zc missing: validate says so
        if zc is not None:
            zc = np.asarray(zc.detach().cpu() if hasattr(zc, "detach") else zc, dtype=np.float64)
            zc = zc[:, None] if zc.ndim == 1 else zc
            if zc.ndim != 2 or zc.shape[1] != self.given_zc_dim:
                return zc  # the full width (a pooled fit's own rows), or wrong: validate says which
        rows = next((len(a) for a in (zc, x, z) if a is not None), n)
        if rows is None:
            return zc
        given = np.zeros((rows, 0)) if zc is None else zc
        return np.concatenate([given, np.full((rows, 1), self.domain)], axis=1)

    def condition(self, z: torch.Tensor | None, zc: torch.Tensor | None, n: int) -> torch.Tensor:
        """``e = (h(z), z^c)``: the only way the head sees the conditions (``n x 0`` if none)."""
        parts = ([self.embedding(z)] if z is not None else []) + ([zc] if zc is not None else [])
        return torch.cat(parts, dim=1) if parts else torch.zeros(n, 0, device=self.device)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None, zc: torch.Tensor | None,
                generator: torch.Generator | None = None, noise: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """The training loss of a validated batch; one call, so DDP sees every parameter.

        ``noise`` is the batch's randomness from :meth:`draw_noise` (drawn here from
        ``generator`` if not given): a data-parallel run draws it for the global batch and
        hands each process its rows, so the run matches a single-process one.
        """
        noise = self.draw_noise(len(x), generator) if noise is None else noise
        return self.loss(x, self.condition(z, zc, len(x)), noise)

    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The randomness of a training batch of ``n`` rows (none for likelihood-based models)."""
        return {}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the task-specific part (everything but the shared embedding)."""
        shared = {id(p) for p in self.embedding.parameters()} if self.embedding is not None else set()
        return (p for p in self.parameters() if id(p) not in shared)

    # -- each family implements these on validated tensors --------------------------------------
    def loss(self, x: torch.Tensor, e: torch.Tensor, noise: dict[str, torch.Tensor]) -> torch.Tensor:
        """Training loss on a batch (mean over rows), given its randomness ``noise``."""
        raise NotImplementedError

    def log_prob_e(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``log p(x | e)`` per row."""
        raise NotImplementedError

    def sample_e(self, e: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One sample per row of ``e``."""
        raise NotImplementedError

    @torch.no_grad()
    def heldout_loss_rows(self, x: Any, z: Any = None, zc: Any = None, *, seed: int = 0) -> np.ndarray:
        """Per-row held-out loss for comparing models on the same rows (the negative-transfer
        guard): the exact negative log-likelihood here; families without one override it."""
        xt, zt, zct = self.validate(x, z, zc)
        return (-self.log_prob_e(xt, self.condition(zt, zct, len(xt)))).cpu().numpy().astype(np.float64)

    # -- public, validated entry points --------------------------------------------------------
    def log_prob(self, x: Any, z: Any | None = None, zc: Any | None = None) -> torch.Tensor:
        """``log p(x | z, z^c)`` per row (exact for flows; probability-flow ODE for diffusion)."""
        xt, zt, zct = self.validate(x, z, zc)
        return self.log_prob_e(xt, self.condition(zt, zct, len(xt)))

    @torch.no_grad()
    def sample(self, z: Any | None = None, zc: Any | None = None, *, n: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """One sample of ``x`` per row of the conditions (``n`` samples for a model without any)."""
        if z is None and zc is None and isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            zc = self.with_domain(None, None, None, n)  # a pooled model of x alone: the target's indicator
        _, zt, zct = self.validate(None, z, zc)
        rows = len(zt) if zt is not None else len(zct) if zct is not None else n
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise DataError(f"the number of samples must be a positive integer, got {n!r}", "pass n >= 1")
        return self.sample_e(self.condition(zt, zct, rows), generator)
