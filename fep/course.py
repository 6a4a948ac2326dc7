"""Settings and shared text of the course notebooks.

``FEP_FAST=1`` shrinks every budget so the course runs in the tests; :data:`REFERENCES` holds the one
copy of each citation the notebooks and the README use.

Examples::

    >>> from fep.course import budget
    >>> iterations = budget(150, fast=10)   # 150 normally, 10 under FEP_FAST=1
    >>> print(references_markdown(["fep", "ep"]))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fep.errors import FepValueError

__all__ = ["FAST", "budget", "check", "SelfCheck", "SELF_CHECKS", "REFERENCES", "references_markdown"]

FAST = os.environ.get("FEP_FAST", "") not in ("", "0", "false", "False")


def budget(full, fast):
    """``fast`` when the environment variable ``FEP_FAST`` is set (to anything but 0/false), else ``full``."""
    return fast if FAST else full


@dataclass(frozen=True)
class SelfCheck:
    """One self-checking exercise: how its expected answer follows from the notebook's objects.

    The expected value lives here, not in the check cell, so a rendered page shows the question, the
    learner's cell and the solution behind a click, never the answer.
    """

    expected: Callable[..., object]  # keyword arguments: the notebook objects the check cell passes
    tolerance: float = 0.0
    hint: str = ""


def _temporal_difference(s) -> float:
    from fep.bench import temporal_difference

    return temporal_difference(s).item()


def _kinetics_share(height: int, width: int, short_side: int = 128, crop: int = 112) -> float:
    """The share of a frame's pixels a Kinetics model sees: resize the short side, crop the centre square."""
    scale = short_side / min(height, width)
    return crop * crop / (round(height * scale) * round(width * scale))


SELF_CHECKS: dict[str, SelfCheck] = {
    "00-voxels-kept": SelfCheck(
        lambda video: 0.05 * math.prod(video.shape[-3:]),
        tolerance=1.0,
        hint="video.shape is (batch, channels, frames, height, width); a voxel is one pixel of one frame.",
    ),
    "01-temporal-difference": SelfCheck(
        _temporal_difference,
        tolerance=1e-6,
        hint="Sum |s[1:] - s[:-1]| over (h, w), divide by the sum of both frames' masses, then average over t.",
    ),
    "02-shortest-period": SelfCheck(
        lambda: 2 * 40 / int(0.1 * 40),
        tolerance=1e-9,
        hint="A cutoff ν_c keeps k <= ν_c·T; frequency k has period 2T/k frames.",
    ),
    "03-area-term": SelfCheck(
        lambda: 0.15,
        tolerance=1e-3,
        hint="Sort both: how many voxels differ between the mask and the reference, and by how much each?",
    ),
    "04-lowest-deletion": SelfCheck(
        lambda deep: min(deep["summary"]["small"], key=lambda m: deep["summary"]["small"][m]["deletion_auc"][0]),
        hint="Compare deep['summary']['small'][m]['deletion_auc'][0] across methods m.",
    ),
    "05-kinetics-share": SelfCheck(
        lambda: _kinetics_share(240, 320),
        tolerance=5e-3,
        hint="The short side becomes 128 (the long one scales with it), then the centre 112 × 112 is kept.",
    ),
    "06-event-share": SelfCheck(
        lambda: math.pi * 14**2 / 112**2 * 3 / 16,
        tolerance=3e-4,
        hint="(pixels of a disk 28 px across / pixels of a frame) × (frames with motion / frames).",
    ),
}


def check(exercise: str, answer, **objects) -> None:
    """A self-checking exercise: compare the learner's ``answer`` with the expected one of ``exercise``.

    Args:
        exercise: a key of :data:`SELF_CHECKS` (the notebook's number and a name, e.g. ``"00-voxels-kept"``).
        answer: the learner's answer; ``None`` (not attempted yet) prints a reminder.
        objects: the notebook objects the expected answer is computed from (e.g. ``video=video``).

    A wrong answer raises AssertionError with the exercise's hint; a right one prints a tick. Numbers (and
    tensors of one element) match within the exercise's tolerance; anything else must be equal. The
    expected value is never printed, so the page shows no answer before its solution is opened.

    Examples::

        >>> check("00-voxels-kept", answer, video=video)
    """
    if exercise not in SELF_CHECKS:
        raise FepValueError(f"No self-check {exercise!r}; use one of {', '.join(SELF_CHECKS)}.")
    if answer is None:
        print("Not answered yet: replace None in the exercise cell with your code, then run this cell again.")
        return
    spec = SELF_CHECKS[exercise]
    try:
        expected = spec.expected(**objects)
    except TypeError as err:
        needs = f"Self-check {exercise!r} needs other notebook objects ({err}); pass them by name."
        raise FepValueError(needs) from None
    try:
        value, target = float(answer), float(expected)
    except (TypeError, ValueError):
        right = answer == expected
    else:
        right = abs(value - target) <= spec.tolerance
    if not right:
        raise AssertionError(f"Not yet: {answer!r} is not the expected answer. {spec.hint}".strip())
    print(f"✓ Right: {answer!r}.")


REFERENCES = {
    "fep": "X. Lin, W. Bao, M. Wright, Y. Kong. *Gradient Frequency Modulation for Visually Explaining Video "
    "Understanding Models.* BMVC 2021. [arXiv:2111.01215](https://arxiv.org/abs/2111.01215) — F-EP.",
    "ep": "R. Fong, M. Patrick, A. Vedaldi. *Understanding Deep Networks via Extremal Perturbations and Smooth "
    "Masks.* ICCV 2019. [arXiv:1910.08485](https://arxiv.org/abs/1910.08485) — extremal perturbation, TorchRay.",
    "video_ep": "Z. Li, W. Wang, Z. Li, Y. Huang, Y. Sato. *Towards Visually Explaining Video Understanding "
    "Networks with Perturbation.* WACV 2021. [arXiv:2005.00375](https://arxiv.org/abs/2005.00375) — 2D-EP, "
    "3D-EP, STEP.",
    "step": "Z. Li, W. Wang, Z. Li, Y. Huang, Y. Sato. *Spatio-Temporal Perturbations for Video Attribution.* "
    "IEEE TCSVT 2021. [arXiv:2109.00222](https://arxiv.org/abs/2109.00222) — STEP, video attribution metrics.",
    "gradient": "K. Simonyan, A. Vedaldi, A. Zisserman. *Deep Inside Convolutional Networks: Visualising Image "
    "Classification Models and Saliency Maps.* ICLR Workshop 2014. "
    "[arXiv:1312.6034](https://arxiv.org/abs/1312.6034) — the input gradient.",
    "smoothgrad": "D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg. *SmoothGrad: removing noise by adding "
    "noise.* 2017. [arXiv:1706.03825](https://arxiv.org/abs/1706.03825).",
    "ig": "M. Sundararajan, A. Taly, Q. Yan. *Axiomatic Attribution for Deep Networks.* ICML 2017. "
    "[arXiv:1703.01365](https://arxiv.org/abs/1703.01365) — Integrated Gradients.",
    "gradcam": "R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra. *Grad-CAM: Visual "
    "Explanations from Deep Networks via Gradient-based Localization.* ICCV 2017. "
    "[arXiv:1610.02391](https://arxiv.org/abs/1610.02391).",
    "rise": "V. Petsiuk, A. Das, K. Saenko. *RISE: Randomized Input Sampling for Explanation of Black-box "
    "Models.* BMVC 2018. [arXiv:1806.07421](https://arxiv.org/abs/1806.07421) — deletion and insertion.",
    "sanity": "J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. *Sanity Checks for Saliency "
    "Maps.* NeurIPS 2018. [arXiv:1810.03292](https://arxiv.org/abs/1810.03292) — the model-randomisation test.",
    "r2plus1d": "D. Tran, H. Wang, L. Torresani, J. Ray, Y. LeCun, M. Paluri. *A Closer Look at Spatiotemporal "
    "Convolutions for Action Recognition.* CVPR 2018. [arXiv:1711.11248](https://arxiv.org/abs/1711.11248) — "
    "R(2+1)D and MC3.",
    "dct": "N. Ahmed, T. Natarajan, K. R. Rao. *Discrete Cosine Transform.* IEEE Transactions on Computers "
    "C-23(1), 1974. [doi:10.1109/T-C.1974.223784](https://doi.org/10.1109/T-C.1974.223784).",
    "kinetics": "W. Kay et al. *The Kinetics Human Action Video Dataset.* 2017. "
    "[arXiv:1705.06950](https://arxiv.org/abs/1705.06950).",
}


def references_markdown(keys: Sequence[str]) -> str:
    """A notebook's References section: a heading and the citations of ``keys``, F-EP's paper first."""
    unknown = [k for k in keys if k not in REFERENCES]
    if unknown:
        raise FepValueError(f"No reference {unknown[0]!r}; use one of {', '.join(REFERENCES)}.")
    ordered = ["fep", *[k for k in dict.fromkeys(keys) if k != "fep"]]
    return "## References\n\n" + "\n".join(f"{i}. {REFERENCES[k]}" for i, k in enumerate(ordered, 1))
