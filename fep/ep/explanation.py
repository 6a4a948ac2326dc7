"""The result of an explanation: masks, saliency, history and settings, saved as one safe .npz file."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fep.atomic import atomic_write
from fep.ep.presets import SALIENCY_SUM
from fep.errors import FepFileNotFoundError, FepValueError

__all__ = ["Explanation"]


@dataclass
class Explanation:
    """Masks found by an extremal-perturbation method, with everything needed to judge them.

    Attributes:
        masks: ``(N, A, T, H, W)`` float tensor in [0, 1] on the CPU: for clip ``n`` and area ``a``, 1
            marks the voxels the model needs (preserve game) or whose removal hurts it (delete game).
            An image input gives ``T = 1``.
        areas: the A area fractions, in the order of ``masks``' second axis.
        target: the class index explained for each clip.
        method: ``"ep2d"``, ``"ep3d"``, ``"step"`` or ``"fep"``.
        history: per-iteration arrays ``(iterations, N, A)``: ``reward``, ``area_loss``,
            ``core_loss`` (STEP's core loss, zeros otherwise) and ``energy`` (what was minimised:
            ``-reward + area_weight * area_loss + core_weight * core_loss``).
        settings: every option of the call, :meth:`fep.ep.settings.ExplanationSettings.to_dict` plus the
            memory plan (JSON-serialisable).
        scores: ``original_prob`` ``(N,)`` of the target on the clean clip and ``masked_prob``
            ``(N, A)`` on the clip perturbed by the final masks (preserved region kept).
        wall_time: seconds spent in the call.
        model_calls: number of forward passes of the model (each on a batch of N·A clips, or 2·N·A
            for the dual game).
        iterations_used: ``(N, A)`` optimiser steps each mask ran (fewer than the cap when
            ``iterations="auto"`` stopped it, :mod:`fep.ep.stopping`).
        stop_reason: per clip, per area: ``"converged"``, ``"cap"`` (auto, ran to the cap) or ``"fixed"``.
        reached_areas: ``(N, A)`` the share of each final mask above 0.5 (of each frame, averaged, for
            2D-EP): what it keeps, next to the area it was asked for.
    """

    masks: torch.Tensor
    areas: tuple[float, ...]
    target: list[int]
    method: str
    history: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    wall_time: float = 0.0
    model_calls: int = 0
    iterations_used: np.ndarray | None = None
    stop_reason: list[list[str]] | None = None
    reached_areas: np.ndarray | None = None

    @property
    def saliency_rule(self) -> str:
        """How :attr:`saliency` combines the masks: ``"nested"`` or ``"sum"`` (the setting; files saved
        before the setting existed summed)."""
        return self.settings.get("saliency") or SALIENCY_SUM

    @property
    def saliency(self) -> torch.Tensor:
        """``(N, T, H, W)``: one map from the masks of every area, by :attr:`saliency_rule`.

        - ``"nested"`` (the 2026-12 default): each voxel is graded by the smallest area that keeps it.
          The masks, taken from the smallest area to the largest, are made nested (each the maximum of
          itself and the smaller ones), then averaged: a voxel kept at every area scores 1, one kept only
          at the largest area scores ``1 / A``. Values in [0, 1].
        - ``"sum"`` (TorchRay's benchmark convention, the 2026-11 default): the sum over areas, 0 to
          ``A``; it ranks voxels the same way when the masks are nested.

        :attr:`normalised_saliency` is the same map in [0, 1] for either rule.
        """
        if self.saliency_rule == SALIENCY_SUM:
            return self.masks.sum(dim=1)
        order = sorted(range(len(self.areas)), key=lambda k: self.areas[k])
        return self.masks[:, order].cummax(dim=1).values.mean(dim=1)

    @property
    def normalised_saliency(self) -> torch.Tensor:
        """:attr:`saliency` in [0, 1] (the sum divided by the number of areas): for colour maps and overlays."""
        return self.saliency / len(self.areas) if self.saliency_rule == SALIENCY_SUM else self.saliency

    def __repr__(self) -> str:
        n, a, t, h, w = self.masks.shape
        return (
            f"Explanation(method={self.method!r}, clips={n}, areas={list(self.areas)}, frames={t}, "
            f"size={h}x{w}, target={self.target}, iterations={self._iterations()}, "
            f"wall_time={self.wall_time:.1f}s)"
        )

    def _iterations(self) -> str:
        setting = self.settings.get("iterations")
        if self.iterations_used is None or setting != "auto":
            return repr(setting) if isinstance(setting, str) else str(setting)
        used = np.asarray(self.iterations_used)
        return (
            f"'auto' ({used.mean():.0f} on average, {used.min()}-{used.max()}; "
            f"{sum(r == 'converged' for row in self.stop_reason for r in row)}/{used.size} converged)"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write one ``.npz`` file atomically (arrays + JSON metadata; loads without pickle)."""
        meta = {
            "areas": list(self.areas),
            "target": list(self.target),
            "method": self.method,
            "settings": self.settings,
            "wall_time": self.wall_time,
            "model_calls": self.model_calls,
            "history_keys": sorted(self.history),
            "score_keys": sorted(self.scores),
            "iterations_used": None if self.iterations_used is None else np.asarray(self.iterations_used).tolist(),
            "stop_reason": self.stop_reason,
            "reached_areas": None if self.reached_areas is None else np.asarray(self.reached_areas).tolist(),
        }
        arrays = {"masks": self.masks.detach().cpu().numpy(), "meta": np.array(json.dumps(meta))}
        arrays.update({f"history_{k}": np.asarray(v) for k, v in self.history.items()})
        arrays.update({f"scores_{k}": np.asarray(v) for k, v in self.scores.items()})
        return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Explanation:
        """Read a file written by :meth:`save` (``allow_pickle=False``: no code runs on load)."""
        path = Path(path)
        if not path.is_file():
            raise FepFileNotFoundError(f"No explanation file at {path}; check the path or save one with .save().")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(
                    masks=torch.from_numpy(data["masks"].copy()),
                    areas=tuple(meta["areas"]),
                    target=list(meta["target"]),
                    method=meta["method"],
                    # Files saved before the rename call STEP's core loss "smoothness_loss".
                    history={
                        k.replace("smoothness_loss", "core_loss"): data[f"history_{k}"].copy()
                        for k in meta["history_keys"]
                    },  # fmt: skip
                    settings=meta["settings"],
                    scores={k: data[f"scores_{k}"].copy() for k in meta["score_keys"]},
                    wall_time=float(meta["wall_time"]),
                    model_calls=int(meta["model_calls"]),
                    iterations_used=None if meta.get("iterations_used") is None else np.array(meta["iterations_used"]),
                    stop_reason=meta.get("stop_reason"),
                    reached_areas=None if meta.get("reached_areas") is None else np.array(meta["reached_areas"]),
                )
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise FepValueError(
                f"{path} is not an explanation saved by fep ({err}); re-create it with .save()."
            ) from err
