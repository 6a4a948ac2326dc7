"""iterations="auto": masks stop when converged (area met, energy steady), are frozen and dropped from
the batch; a case that cannot converge runs to the cap; an integer count runs exactly (test_engine_golden)."""

import numpy as np
import torch

from fep.ep.api import extremal_perturbation
from fep.ep.explanation import Explanation
from fep.ep.stopping import AUTO_CAP, AUTO_SCHEDULE
from fep.ep.warm_start import smooth_start, warm_start
from fep.testing import WindowDetector, window_clip

WINDOW = dict(top=12, left=4, window=20)


def _window_problem(frames=4):
    video, inside = window_clip(frames=frames, **WINDOW)
    return WindowDetector(WINDOW["top"], WINDOW["left"], size=WINDOW["window"]), video, inside


class BatchSizes(torch.nn.Module):
    """Records the batch size of every call."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.sizes = inner, []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        return self.inner(x)


class Noisy(torch.nn.Module):
    """Logits that are new noise at every call: the energy never settles, so nothing can converge."""

    def forward(self, x):
        return 100 * torch.randn(x.shape[0], 3) + 0 * x.mean()


def test_auto_stops_an_easy_case_early_keeps_the_evidence_and_drops_stopped_masks():
    model, video, inside = _window_problem()
    counted = BatchSizes(model)
    # The stopping rule at the schedule its constants were measured with (the 2026-11 defaults: warm
    # start, area weight final after 10 iterations). At the 2026-12 schedule of 20 the 0.05 mask of this
    # case runs to the cap: its area error stays just above the tolerance.
    result = extremal_perturbation(counted, video, 0, areas=(0.05, 0.1, 0.2), defaults="2026-11", progress=False)
    used = result.iterations_used
    assert result.settings["iterations"] == "auto" and result.stop_reason == [["converged"] * 3]
    assert used.max() < 40 and used.min() >= AUTO_SCHEDULE
    for a, area in enumerate(result.areas):  # the stopped masks are good ones: they keep the window
        kept = result.masks[0, a] > 0.5
        if area < 1.5 * inside.float().mean():
            assert (kept & inside).sum() > 0.5 * kept.sum()  # most of what is kept lies in the window
        else:
            assert kept[inside].float().mean() > 0.9  # the whole window is kept
    # 1 measuring call + 1 warm start, then one call per iteration with the masks still running, then scoring
    loop = counted.sizes[2:-1]
    assert len(loop) == used.max() and loop[0] == 3
    assert [sum(1 for u in used[0] if u > i) for i in range(int(used.max()))] == loop
    history = result.history["energy"][:, 0]
    assert history.shape[0] == used.max()
    for a in range(3):  # NaN once a mask has stopped
        assert not np.isnan(history[: used[0, a], a]).any() and np.isnan(history[used[0, a] :, a]).all()


def test_a_stopped_mask_no_longer_moves():
    model, video, _ = _window_problem()
    seen = {}
    result = extremal_perturbation(
        model, video, 0, areas=(0.05, 0.2), progress=False, callback=lambda i, m, h: seen.__setitem__(i, m.clone())
    )
    first = int(result.iterations_used.min())
    # the masks shown at the iteration where the first mask stopped, and at the end, agree for that mask
    a = int(result.iterations_used[0].argmin())
    later = max(seen)
    assert later > first - 1
    torch.testing.assert_close(seen[first - 1][0, a], seen[later][0, a])
    torch.testing.assert_close(result.masks[0, a], seen[first - 1][0, a].clamp(0, 1), atol=1e-6, rtol=0)


def test_a_case_that_cannot_converge_runs_to_the_cap():
    _, video, _ = _window_problem()
    result = extremal_perturbation(Noisy(), video, 0, areas=(0.1,), progress=False)
    assert result.iterations_used.tolist() == [[AUTO_CAP]] and result.stop_reason == [["cap"]]
    assert result.history["energy"].shape[0] == AUTO_CAP


def test_an_integer_runs_every_mask_in_full_from_all_ones():
    model, video, _ = _window_problem()
    result = extremal_perturbation(model, video, 0, areas=(0.05, 0.2), iterations=7, progress=False)
    assert result.iterations_used.tolist() == [[7, 7]] and result.stop_reason == [["fixed", "fixed"]]
    assert result.settings["init"] == 1.0 and not np.isnan(result.history["energy"]).any()


def test_warm_start_puts_the_initial_mask_on_the_salient_cells(tmp_path):
    model, video, inside = _window_problem(frames=2)
    logits = lambda clips: model(clips)  # noqa: E731 - the engine's model runner signature
    start = warm_start(logits, video, [0], (0.05, 0.3), step=4, smooth=smooth_start)
    assert start.shape == (1, 2, 2, 16, 16)
    cells_inside = inside[:, ::4, ::4]  # the window, on the 4-px grid
    small, large = start[0, 0], start[0, 1]
    assert 0 <= start.min() and start.max() == 1  # graded, in [0, 1]
    assert abs((small == 1).float().mean().item() - 0.05) < 0.01  # about the top 5 % of cells start at 1
    assert not ((small == 1) & ~cells_inside).any()  # and they all lie in the window
    assert (large[cells_inside] > 0.5).all()  # a larger area starts with the whole window kept
    assert small[~cells_inside].mean() < small[cells_inside].mean() / 4  # and little outside it
    result = extremal_perturbation(model, video, 0, areas=(0.1,), progress=False)
    result.save(tmp_path / "r.npz")
    back = Explanation.load(tmp_path / "r.npz")
    assert back.iterations_used.tolist() == result.iterations_used.tolist() and back.stop_reason == result.stop_reason


def test_a_converged_run_ends_as_a_full_bar_in_a_notebook(monkeypatch, capsys):
    """In JupyterLab the bar is a widget whose maximum was the cap: on convergence it is cut to the steps run,
    so a rendered page shows a full bar, not one stopped a third of the way at "100%"."""
    from tqdm import notebook

    from fep.ep import engine

    bars = []

    def widget_bar(*args, **kwargs):
        bars.append(notebook.tqdm(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(engine, "tqdm", widget_bar)
    model, video, _ = _window_problem()
    result = extremal_perturbation(model, video, 0, areas=(0.1,), defaults="2026-11")
    assert result.stop_reason == [["converged"]]
    _, progress, _ = bars[0].container.children
    assert progress.value == progress.max == result.iterations_used.max() < AUTO_CAP
