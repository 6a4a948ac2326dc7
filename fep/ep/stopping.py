r"""When to stop: ``iterations="auto"`` ends each mask's optimisation once it has converged.

A fixed iteration count spends most of a run polishing: on the synthetic benchmark F-EP's masks reach
their area and their final quality long before 100 iterations (``benchmarks/bench_auto.py``). With
``"auto"``:

- the area weight follows the schedule of a ``schedule``-iteration run (the named defaults'
  ``auto_schedule``, :data:`fep.ep.presets.DEFAULTS`: 20 in 2026-12, :data:`AUTO_SCHEDULE` in 2026-11), from
  :math:`\lambda_0` to :math:`\lambda_{end}`, and then stays at :math:`\lambda_{end}`;
- from the iteration at which the area weight is final, a mask has converged when its **area error**
  — the share of its voxels above 0.5 minus the area it should keep, in absolute value (per frame
  for 2D-EP, averaged) — is at most :data:`AUTO_AREA_TOLERANCE` times the area (never less than
  :data:`AUTO_AREA_TOLERANCE_FLOOR` of the clip), and the **energy's
  relative change** over the last :data:`AUTO_WINDOW` iterations, its range
  :math:`\max_{i-W \le j \le i} E_j - \min_{i-W \le j \le i} E_j` over
  :math:`|R_i| + \lambda_i \mathcal A_i + \mu_i \mathcal C_i`, is at most the named defaults'
  ``energy_tolerance`` (:data:`AUTO_ENERGY_TOLERANCE` up to 2026-12)
  (the range, not the end points, so a noisy energy never passes by chance);
- a converged mask is frozen (its parameters no longer move) and dropped from the batch, so the model
  runs on fewer masked clips and the remaining masks go faster; the run ends when every mask has
  converged or at :data:`AUTO_CAP` iterations.

The :class:`~fep.ep.explanation.Explanation` records, per mask, the iterations it used and why it
stopped (``"converged"``, ``"cap"``, or ``"fixed"`` for an integer ``iterations``). The constants
are chosen by measurement (``benchmarks/bench_auto.py``, ``results/performance/auto.md``).
"""

from __future__ import annotations

import torch

__all__ = [
    "AUTO",
    "AUTO_CAP",
    "AUTO_SCHEDULE",
    "AUTO_WINDOW",
    "AUTO_AREA_TOLERANCE",
    "AUTO_AREA_TOLERANCE_FLOOR",
    "AUTO_ENERGY_TOLERANCE",
    "STOP_CONVERGED",
    "STOP_CAP",
    "STOP_FIXED",
    "Stopping",
]

AUTO = "auto"
AUTO_CAP = 100
AUTO_SCHEDULE = 10
AUTO_WINDOW = 3
AUTO_AREA_TOLERANCE = 0.1  # relative: 10 % of the area (0.005 of the clip at a = 0.05)
# ... but never below 0.1 % of the clip: a mask of 0.5 % is about 20 grid cells on a 16 x 112 x 112
# clip, and 10 % of it (two cells) was hit only by chance, so small masks ran to the cap.
AUTO_AREA_TOLERANCE_FLOOR = 0.001
AUTO_ENERGY_TOLERANCE = 0.05
STOP_CONVERGED, STOP_CAP, STOP_FIXED = "converged", "cap", "fixed"


class Stopping:
    """Which masks are still optimised, and when and why each one stopped.

    Args:
        areas: the A areas.
        clips: N.
        auto: stop masks once converged (else run every mask for the fixed count).
        device: where the flags live (the masks' device).
        schedule: the iterations of the area weight's schedule; no mask stops before its end.
        energy_tolerance: the energy's relative change over the window below which a mask has converged.

    Attributes:
        active: ``(N, A)`` bool, masks still being optimised.
        used: ``(N, A)`` iterations each mask ran.
    """

    def __init__(
        self, areas: tuple[float, ...], clips: int, auto: bool, device: torch.device, schedule: int = AUTO_SCHEDULE,
        energy_tolerance: float = AUTO_ENERGY_TOLERANCE,
    ) -> None:  # fmt: skip
        shape = (clips, len(areas))
        self.auto, self.schedule, self.energy_tolerance = auto, schedule, energy_tolerance
        relative = AUTO_AREA_TOLERANCE * torch.tensor(areas, device=device)[None, :]
        self.tolerance = relative.clamp_min(AUTO_AREA_TOLERANCE_FLOOR)
        self.active = torch.ones(shape, dtype=torch.bool, device=device)
        self.used = torch.zeros(shape, dtype=torch.long, device=device)
        self.converged = torch.zeros(shape, dtype=torch.bool, device=device)

    def update(self, i: int, history: dict, area_error: torch.Tensor, scale: torch.Tensor) -> bool:
        """Count iteration ``i`` for the active masks and stop those that converged; True if any did.

        Args:
            i: the iteration just done.
            history: ``(iterations, N, A)`` tensors with ``"energy"`` filled up to ``i``.
            area_error: ``(N, A)`` area error of each mask at ``i`` (stale for inactive masks).
            scale: ``(N, A)`` magnitude of the energy's parts at ``i``, for the relative change.
        """
        self.used += self.active.long()
        # Not before the area weight is final: until then the energy moves with the schedule, and the
        # first steps of a momentum optimiser are too small to tell convergence from a slow start.
        if not self.auto or i < max(AUTO_WINDOW, self.schedule - 1):
            return False
        window = history["energy"][i - AUTO_WINDOW : i + 1]
        change = (window.amax(dim=0) - window.amin(dim=0)) / scale.clamp_min(1e-6)
        done = self.active & (area_error <= self.tolerance) & (change <= self.energy_tolerance)
        if not bool(done.any()):
            return False
        self.active &= ~done
        self.converged |= done
        return True

    def waiting_for(self, i: int) -> str:
        """What the run waits for after iteration ``i``, for the progress bar."""
        if not self.auto:
            return "fixed count"
        first = max(AUTO_WINDOW, self.schedule - 1)
        if i < first:
            return f"area weight grows until iteration {first + 1}"
        total = self.active.numel()
        return f"{total - int(self.active.sum())}/{total} masks converged"

    def reasons(self) -> list[list[str]]:
        """Per clip, per area: ``"converged"``, ``"cap"`` or ``"fixed"``."""
        if not self.auto:
            return [[STOP_FIXED] * self.used.shape[1] for _ in range(self.used.shape[0])]
        return [[STOP_CONVERGED if c else STOP_CAP for c in row] for row in self.converged.tolist()]
