"""Interactive explorers for JupyterLab: sliders for frames and frequencies (ipywidgets 8 + matplotlib).

- :class:`FrequencyExplorer`: a clip and a saliency/gradient volume; frame slider with Play, temporal
  and spatial cutoff sliders, filter dropdown. Shows the frame, the raw map, the low-passed map and
  the DCT spectrum with the cutoffs drawn, with spectral concentration and temporal difference.
- :class:`ExplanationExplorer`: explanations and any saliency maps (Grad-CAM, gradients) side by side;
  frame slider with Play, area selector (by fraction), overlay opacity, ground-truth toggle.
- :class:`CutoffExplorer`: F-EP explanations of one clip made at several cutoffs; a cutoff slider
  shows each one's mask over the frames and where in time its mass lies, against the evidence frames.
- :class:`LiveView`: a figure that an F-EP run updates every k iterations (masks and energy curve).

Every explorer is an ``ipywidgets.VBox`` (it composes in boxes and displays itself). The logic is plain
Python: every control calls a method (``set_frame``, ``set_cutoffs``,
``set_filter``, ``set_area``, ``set_opacity``, ``set_show_truth``) that tests can call directly, and
the picture is a PNG in an ``ipywidgets.Image`` — no custom JavaScript, no JupyterLab extension.
Only what a change invalidates is recomputed: moving the frame re-renders one picture; moving a
cutoff re-filters the volume once (cached per setting).

Examples::

    >>> from fep.viz.widgets import FrequencyExplorer
    >>> FrequencyExplorer(clip.frames, saliency)      # last expression of a cell: shows the widget
"""

from __future__ import annotations

import ipywidgets
import numpy as np
import torch

from fep.bench.map_metrics import spectral_concentration, spectrum_profile, temporal_difference
from fep.bench.methods import label_of
from fep.ep.dct import FILTERS, check_filter, lowpass
from fep.ep.explanation import Explanation
from fep.errors import FepValueError
from fep.viz.explorer import Explorer, display_frames
from fep.viz.figures import OVERLAY_ALPHA, as_numpy, box, figure, overlay_frames, rgb_frames, shade_evidence
from fep.viz.live import LiveView

__all__ = ["FrequencyExplorer", "ExplanationExplorer", "CutoffExplorer", "LiveView"]


class FrequencyExplorer(Explorer):
    """Explore how DCT low-passing changes a saliency (or gradient) volume.

    Args:
        video: ``(3, T, H, W)`` frames in [0, 1] (or model-normalised; display only).
        volume: ``(T, H, W)`` saliency or gradient (use its magnitude for signed gradients).
        temporal_cutoff, spatial_cutoff: initial cutoffs in [0, 1].
        filter_type: initial filter (``"ideal"``, ``"gaussian"``, ``"butterworth"``).
        fps: Play speed.

    Attributes:
        frame, temporal_cutoff, spatial_cutoff, filter_type: the current settings.
        modulated: the low-passed volume ``(T, H, W)`` for the current settings.
        stats: spectral concentration and temporal difference of the raw and low-passed volume.
        The explorer is an ``ipywidgets.VBox``: display it, or put it in a box.
    """

    def __init__(
        self, video, volume, temporal_cutoff: float = 0.25, spatial_cutoff: float = 0.25,
        filter_type: str = "gaussian", fps: float = 4.0,
    ) -> None:  # fmt: skip
        rgb = rgb_frames(video)
        vol = torch.as_tensor(as_numpy(volume), dtype=torch.float64)
        if vol.ndim != 3 or vol.shape[0] != rgb.shape[0]:
            raise FepValueError(f"volume must be (T, H, W) with T = {rgb.shape[0]}, got {tuple(vol.shape)}.")
        super().__init__(rgb.shape[0], fps)
        w = ipywidgets
        self.video, self.volume = display_frames(rgb), vol
        self.temporal_cutoff, self.spatial_cutoff = float(temporal_cutoff), float(spatial_cutoff)
        self.filter_type = filter_type
        self._cache: dict[tuple, tuple] = {}
        self._raw_profile = spectrum_profile(vol)
        self._raw_stats = self._stats(vol)
        self.temporal_slider = w.FloatSlider(value=temporal_cutoff, min=0.0, max=1.0, step=0.05, description="temporal")
        self.spatial_slider = w.FloatSlider(value=spatial_cutoff, min=0.0, max=1.0, step=0.05, description="spatial")
        self.filter_dropdown = w.Dropdown(options=list(FILTERS), value=filter_type, description="filter")
        self._observe(self.temporal_slider, lambda v: self.set_cutoffs(temporal=v))
        self._observe(self.spatial_slider, lambda v: self.set_cutoffs(spatial=v))
        self._observe(self.filter_dropdown, self.set_filter)
        self.children = [
            w.HBox([self.play, self.frame_slider]),
            w.HBox([self.temporal_slider, self.spatial_slider, self.filter_dropdown]),
            self.image,
            self.status,
        ]  # fmt: skip
        self._update_modulated()
        self._render()

    @staticmethod
    def _stats(vol: torch.Tensor) -> dict:
        conc_t, conc_s = spectral_concentration(vol.abs())
        return {"concentration_t": float(conc_t), "concentration_s": float(conc_s),
                "temporal_difference": float(temporal_difference(vol.abs()))}  # fmt: skip

    @staticmethod
    def _display_max(volume: torch.Tensor) -> float:
        # Gradients are spiky: scaling colours to the 99.5th percentile keeps most of the map visible.
        flat = volume.flatten()[:: max(1, volume.numel() // 100_000)]
        return float(torch.quantile(flat, 0.995)) or float(volume.max()) or 1.0

    def _update_modulated(self) -> None:
        key = (round(self.temporal_cutoff, 6), round(self.spatial_cutoff, 6), self.filter_type)
        if key not in self._cache:
            modulated = lowpass(self.volume, self.temporal_cutoff, self.spatial_cutoff, self.filter_type)
            self._cache[key] = (modulated, spectrum_profile(modulated), self._stats(modulated))
        self.modulated, self._profile, stats = self._cache[key]
        self.stats = {"raw": self._raw_stats, "modulated": stats}

    def set_cutoffs(self, temporal: float | None = None, spatial: float | None = None) -> None:
        """Change one or both cutoffs (the sliders call this) and re-filter (cached per setting)."""
        for name, value in (("temporal", temporal), ("spatial", spatial)):
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise FepValueError(f"The {name} cutoff must lie in [0, 1], got {value}.")
        self.temporal_cutoff = self.temporal_cutoff if temporal is None else float(temporal)
        self.spatial_cutoff = self.spatial_cutoff if spatial is None else float(spatial)
        self._sync(self.temporal_slider, self.temporal_cutoff)
        self._sync(self.spatial_slider, self.spatial_cutoff)
        self._update_modulated()
        self._render()

    def set_filter(self, filter_type: str) -> None:
        """Switch the filter shape (the dropdown calls this)."""
        self.filter_type = check_filter(filter_type)
        self._sync(self.filter_dropdown, filter_type)
        self._update_modulated()
        self._render()

    def _render(self) -> None:
        if not hasattr(self, "modulated"):
            return  # still constructing
        t = self.frame
        raw = self.volume.abs()
        low = self.modulated.abs()
        vmax, vmax_low = self._display_max(raw), self._display_max(low)
        fig = figure(figsize=(11, 2.6))
        axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.5]})
        frame = self.video[:, t : t + 1]  # overlay one frame only: a frame change must stay cheap
        axes[0].imshow(rgb_frames(self.video)[t])
        axes[1].imshow(overlay_frames(frame, raw[t : t + 1], vmax=vmax)[0])
        axes[2].imshow(overlay_frames(frame, low[t : t + 1], vmax=vmax_low)[0])
        for ax, title in zip(axes[:3], (f"frame {t}", "raw map", "low-passed map"), strict=True):
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
        temporal_raw, spatial_raw, nu_s = self._raw_profile
        temporal_low, spatial_low, _ = self._profile
        nu_t = np.arange(len(temporal_raw)) / len(temporal_raw)
        ax = axes[3]
        ax.semilogy(nu_t, temporal_raw + 1e-12, "o-", ms=2, color="tab:blue", label="temporal, raw")
        ax.semilogy(nu_t, temporal_low + 1e-12, "o--", ms=2, color="tab:blue", alpha=0.6, label="temporal, low-passed")
        ax.semilogy(nu_s, spatial_raw + 1e-12, "s-", ms=2, color="tab:orange", label="spatial, raw")
        ax.semilogy(nu_s, spatial_low + 1e-12, "s--", ms=2, color="tab:orange", alpha=0.6, label="spatial, low-passed")
        ax.axvline(self.temporal_cutoff, color="tab:blue", linestyle=":")
        ax.axvline(self.spatial_cutoff, color="tab:orange", linestyle=":")
        ax.set_xlabel("normalised frequency ν", fontsize=8)
        ax.set_title("DCT energy (dotted: cutoffs)", fontsize=9)
        ax.legend(fontsize=6)
        fig.tight_layout()
        self._show(fig)
        raw_s, low_s = self.stats["raw"], self.stats["modulated"]
        self.status.value = (
            f"<b>frame {t}</b> · temporal cutoff {self.temporal_cutoff:.2f} · spatial cutoff {self.spatial_cutoff:.2f}"
            f" · {self.filter_type} | concentration (t, s): raw {raw_s['concentration_t']:.3f}, "
            f"{raw_s['concentration_s']:.3f} → {low_s['concentration_t']:.3f}, {low_s['concentration_s']:.3f}"
            f" | temporal difference: {raw_s['temporal_difference']:.3f} → {low_s['temporal_difference']:.3f}"
        )


def _labelled(explanations) -> dict:
    """``{label: Explanation or map}`` from one, a dict or a list of Explanations and saliency tensors."""
    if isinstance(explanations, dict):
        return dict(explanations)
    if not isinstance(explanations, (list, tuple)):
        explanations = [explanations]
    named: dict = {}
    for k, item in enumerate(explanations):
        label = label_of(item.method) if isinstance(item, Explanation) else f"map {k}"
        named[label if label not in named else f"{label} ({k})"] = item
    return named


def _as_map(label: str, item, clip: int, frames: int) -> torch.Tensor:
    """A saliency tensor ``(T, H, W)`` or ``(N, T, H, W)`` → clip ``clip``'s map, scaled to [0, 1]."""
    if isinstance(item, Explanation):
        return item.normalised_saliency[clip].detach().float()
    volume = torch.as_tensor(as_numpy(item), dtype=torch.float32)
    if volume.ndim == 4:
        volume = volume[clip]
    if volume.ndim != 3 or volume.shape[0] != frames:
        raise FepValueError(
            f"{label!r} must be an Explanation or a saliency (T, H, W) or (N, T, H, W) with T = {frames}, "
            f"got {tuple(volume.shape)}."
        )
    volume = volume.abs()
    return volume / (float(volume.max()) or 1.0)


class ExplanationExplorer(Explorer):
    """Browse explanations and saliency maps of the same clip side by side.

    Args:
        video: ``(3, T, H, W)`` frames.
        explanations: an :class:`~fep.ep.explanation.Explanation` or a saliency tensor (``(T, H, W)``, or
            ``(N, T, H, W)`` for a batch), or a dict ``{label: either}``, or a list of them (labelled by
            method).
        boxes: optional ``(T, 4)`` ground-truth boxes (enables the ground-truth toggle).
        clip: which clip of a batched explanation to show.
        fps: Play speed.

    The area selector shows each Explanation's saliency (every area graded into one map, scaled to
    [0, 1]) or its mask at one area, chosen by fraction (``set_area(0.05)``); a saliency tensor shows its
    magnitude scaled to [0, 1] whatever the area.

    Examples::

        >>> ExplanationExplorer(clip.frames, {"F-EP": result, "Grad-CAM": grad_cam(model, video, target)})
    """

    def __init__(self, video, explanations, boxes=None, clip: int = 0, fps: float = 4.0) -> None:
        named = _labelled(explanations)
        if not named:
            raise FepValueError("Pass at least one explanation or saliency map.")
        rgb = rgb_frames(video)
        self.saliency = {label: _as_map(label, item, clip, rgb.shape[0]) for label, item in named.items()}
        super().__init__(rgb.shape[0], fps)
        w = ipywidgets
        self.video, self.explanations, self.clip = display_frames(rgb), named, clip
        self.boxes = None if boxes is None else as_numpy(boxes)
        self.areas = sorted({float(a) for e in named.values() if isinstance(e, Explanation) for a in e.areas})
        self.area = "all"
        self.opacity = OVERLAY_ALPHA
        self.show_truth = self.boxes is not None
        options = [("saliency (every area)", "all")] + [(f"mask at area {a:g}", a) for a in self.areas]
        self.area_dropdown = w.Dropdown(options=options, value="all", description="area")
        self.opacity_slider = w.FloatSlider(value=self.opacity, min=0.0, max=1.0, step=0.05, description="opacity")
        self.truth_checkbox = w.Checkbox(value=self.show_truth, description="ground truth", disabled=self.boxes is None)
        self._observe(self.area_dropdown, self.set_area)
        self._observe(self.opacity_slider, self.set_opacity)
        self._observe(self.truth_checkbox, self.set_show_truth)
        self.children = [
            w.HBox([self.play, self.frame_slider]),
            w.HBox([self.area_dropdown, self.opacity_slider, self.truth_checkbox]),
            self.image,
            self.status,
        ]  # fmt: skip
        self._render()

    def maps(self) -> dict[str, torch.Tensor]:
        """The ``(T, H, W)`` map in [0, 1] shown for each entry under the current area setting."""
        shown = {}
        for label, item in self.explanations.items():
            if self.area != "all" and isinstance(item, Explanation) and self.area in item.areas:
                shown[label] = item.masks[self.clip, list(item.areas).index(self.area)].float()
            else:
                shown[label] = self.saliency[label]
        return shown

    def set_area(self, area) -> None:
        """``"all"`` (the saliency, every area graded) or one of the explained areas as a fraction, e.g. 0.05."""
        if area != "all":
            matches = [a for a in self.areas if isinstance(area, (int, float)) and abs(a - float(area)) < 1e-9]
            if not matches:
                choices = ", ".join(f"{a:g}" for a in self.areas) or "none (only saliency maps were given)"
                raise FepValueError(f"area must be 'all' or one of the explained areas ({choices}), got {area!r}.")
            area = matches[0]
        self.area = area
        self._sync(self.area_dropdown, area)
        self._render()

    def set_opacity(self, opacity: float) -> None:
        if not 0.0 <= float(opacity) <= 1.0:
            raise FepValueError(f"opacity must lie in [0, 1], got {opacity}.")
        self.opacity = float(opacity)
        self._sync(self.opacity_slider, self.opacity)
        self._render()

    def set_show_truth(self, show: bool) -> None:
        if show and self.boxes is None:
            raise FepValueError("No ground-truth boxes were given to this explorer.")
        self.show_truth = bool(show)
        self._sync(self.truth_checkbox, self.show_truth)
        self._render()

    def _render(self) -> None:
        if not hasattr(self, "show_truth"):
            return
        t, maps = self.frame, self.maps()
        fig = figure(figsize=(3 * len(maps), 3.2))
        axes = np.atleast_1d(fig.subplots(1, len(maps)))
        vmax = 1.0
        for ax, (label, m) in zip(axes, maps.items(), strict=True):
            ax.imshow(overlay_frames(self.video[:, t : t + 1], m[t : t + 1], self.opacity, vmax=vmax)[0])
            ax.set_title(label, fontsize=10)
            ax.set_axis_off()
            if self.show_truth:
                box(ax, self.boxes[t])
        fig.tight_layout()
        self._show(fig)
        area = "saliency (every area)" if self.area == "all" else f"mask at area {self.area:g}"
        kept = " · ".join(f"{k}: {float((m[t] > 0.5).float().mean()):.1%} of frame kept" for k, m in maps.items())
        self.status.value = f"<b>frame {t}</b> · {area} · opacity {self.opacity:.2f} | {kept}"


class CutoffExplorer(Explorer):
    """What F-EP's cutoff does to one explanation: a slider over explanations made at several cutoffs.

    Shows the mask over the current frame, the share of the mask's mass per frame (evidence frames
    shaded) and, in the status line, the temporal difference and the temporal localisation (share of
    the mass inside the evidence frames) of the explanation at the chosen cutoff.

    Args:
        video: ``(3, T, H, W)`` frames.
        explanations: ``{cutoff: Explanation}`` of the same clip (e.g. F-EP at several ``temporal_cutoff``).
        evidence: ``(T,)`` bool, the frames that carry the class evidence.
        boxes: optional ``(T, 4)`` ground-truth boxes.
        fps: Play speed.
        cutoff: the cutoff shown first (default: the middle one of ``explanations``).

    Examples::

        >>> runs = {c: extremal_perturbation(model, video, target, temporal_cutoff=c) for c in (0.1, 0.25, 1.0)}
        >>> CutoffExplorer(clip.frames, runs, evidence=truth["evidence"])
    """

    def __init__(self, video, explanations: dict, evidence, boxes=None, fps: float = 4.0, cutoff=None) -> None:
        from fep.bench.map_metrics import temporal_localisation

        if not explanations:
            raise FepValueError("Pass at least one explanation, as {cutoff: Explanation}.")
        rgb = rgb_frames(video)
        self.evidence = torch.as_tensor(as_numpy(evidence)).bool()
        if self.evidence.shape != (rgb.shape[0],):
            raise FepValueError(
                f"evidence must have one flag per frame ({rgb.shape[0]}), got {tuple(self.evidence.shape)}."
            )
        super().__init__(rgb.shape[0], fps)
        w = ipywidgets
        self.video, self.boxes = display_frames(rgb), None if boxes is None else as_numpy(boxes)
        self.cutoffs = sorted(explanations)
        self.saliency = {c: explanations[c].normalised_saliency[0].detach().float() for c in self.cutoffs}
        self.numbers = {
            c: {
                "temporal_difference": float(temporal_difference(s)),
                "temporal_localisation": temporal_localisation(s, self.evidence),
            }
            for c, s in self.saliency.items()
        }
        if cutoff is not None and cutoff not in explanations:
            raise FepValueError(f"cutoff must be one of {self.cutoffs}, got {cutoff!r}: the one shown first.")
        self.cutoff = self.cutoffs[len(self.cutoffs) // 2] if cutoff is None else cutoff
        self.cutoff_slider = w.SelectionSlider(options=self.cutoffs, value=self.cutoff, description="cutoff")
        self._observe(self.cutoff_slider, self.set_cutoff)
        self.children = [w.HBox([self.play, self.frame_slider, self.cutoff_slider]), self.image, self.status]
        self._render()

    def set_cutoff(self, cutoff: float) -> None:
        """Show the explanation made at ``cutoff`` (one of the given ones)."""
        if cutoff not in self.saliency:
            raise FepValueError(f"cutoff must be one of {self.cutoffs}, got {cutoff!r}.")
        self.cutoff = cutoff
        self._sync(self.cutoff_slider, cutoff)
        self._render()

    def _render(self) -> None:
        if not hasattr(self, "cutoff_slider"):
            return
        t, s = self.frame, self.saliency[self.cutoff]
        fig = figure(figsize=(8, 3))
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
        left.imshow(overlay_frames(self.video[:, t : t + 1], s[t : t + 1], vmax=float(s.max()) or 1.0)[0])
        left.set_axis_off()
        left.set_title(f"frame {t}", fontsize=9)
        if self.boxes is not None:
            box(left, self.boxes[t])
        mass = s.sum(dim=(1, 2))
        shade_evidence(right, self.evidence, alpha=0.2)
        right.plot((mass / mass.sum().clamp_min(1e-12)).numpy(), marker="o", ms=3)
        right.axvline(t, color="grey", lw=0.8, ls=":")
        right.set_xlabel("frame (shaded: evidence)")
        right.set_ylabel("share of the mask's mass")
        right.set_ylim(bottom=0)
        right.grid(alpha=0.3)
        fig.tight_layout()
        self._show(fig)
        n = self.numbers[self.cutoff]
        self.status.value = (
            f"<b>cutoff {self.cutoff:g}</b> · temporal difference {n['temporal_difference']:.3f} · "
            f"share of the mass in the evidence frames {n['temporal_localisation']:.3f} "
            f"(they are {float(self.evidence.float().mean()):.0%} of the frames)"
        )
