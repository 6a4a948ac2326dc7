import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from fep import viz
from fep.ep.anatomy import gradient_snapshot, two_voxel_paths
from fep.ep.api import extremal_perturbation
from fep.testing import TinyVideoNet

VIDEO = torch.rand(3, 6, 24, 24, generator=torch.Generator().manual_seed(0))
MAP = torch.zeros(6, 24, 24)
MAP[:, 8:16, 8:16] = 1.0


def test_overlay_colours_only_where_the_map_is():
    frames = viz.overlay_frames(VIDEO, MAP, alpha=0.6)
    assert frames.shape == (6, 24, 24, 3) and frames.dtype == np.uint8
    grey = (viz.grey_frames(VIDEO) * 255).round()  # the frame in grey where the map is 0
    assert np.abs(frames[:, 0, 0].astype(float) - grey[:, 0, 0]).max() <= 1
    assert np.abs(frames[:, 12, 12].astype(float) - grey[:, 12, 12]).max() > 20
    assert (frames[:, 0, 0, 0] == frames[:, 0, 0, 1]).all(), "no colour of the clip under the overlay"


def test_one_colour_scale_across_frames():
    ramp = torch.arange(6.0)[:, None, None].expand(6, 24, 24)
    frames = viz.overlay_frames(torch.zeros(3, 6, 24, 24), ramp, alpha=1.0, cmap="gray")
    brightness = frames.mean(axis=(1, 2, 3))
    assert (np.diff(brightness) > 0).all()  # later frames brighter: not rescaled per frame


def test_frame_grid_has_one_row_per_map_and_boxes():
    boxes = torch.tensor([[8, 8, 16, 16]] * 6)
    fig = viz.frame_grid(VIDEO, {"a": MAP, "b": MAP * 0.5}, frames=[0, 2, 4], boxes=boxes, title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 3
    assert all(len(ax.patches) == 1 for ax in fig.axes)
    assert [fig.axes[i].get_ylabel() for i in (0, 3, 6)] == ["clip", "a", "b"]
    png = viz.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_animation_files_have_t_frames(tmp_path):
    gif = viz.save_animation(VIDEO, MAP, tmp_path / "a.gif", fps=5)
    with Image.open(gif) as image:
        assert image.n_frames == 6 and image.size == (48, 48)
    from fep.data.video import load_video

    mp4 = viz.save_animation(VIDEO, MAP, tmp_path / "a.mp4", fps=5)
    assert load_video(mp4, num_frames=None).frames.shape[1] == 6
    with pytest.raises(ValueError, match="Unknown animation format"):
        viz.save_animation(VIDEO, MAP, tmp_path / "a.avi")
    html = viz.animation_html(VIDEO, MAP, boxes=torch.tensor([[8, 8, 16, 16]] * 6))
    assert "<script" in html and html.count("data:image/png") == 6
    # Offline: no icon font, no CDN, no network address of any kind.
    assert "http://" not in html and "https://" not in html and "//cdn" not in html


def test_spectrum_plot_has_both_profiles_and_the_cutoffs():
    fig = viz.plot_spectrum(MAP, 0.25, 0.25, title="x")
    assert len(fig.axes) == 2 and all(len(ax.lines) == 2 for ax in fig.axes)  # profile + cutoff line


def test_history_plot_has_a_line_per_area():
    result = extremal_perturbation(
        TinyVideoNet(), torch.rand(1, 3, 4, 16, 16), 0, areas=(0.1, 0.3), iterations=4, progress=False
    )
    fig = viz.plot_history(result)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 2 for ax in fig.axes)


def test_plot_functions_leave_no_open_figures():
    before = len(plt.get_fignums())
    for _ in range(10):
        viz.frame_grid(VIDEO, {"m": MAP}, frames=[0, 1])
        viz.plot_spectrum(MAP)
        viz.overlay(VIDEO, MAP, frame=2)
    assert len(plt.get_fignums()) == before
    assert matplotlib.get_backend()  # pyplot untouched but importable


def test_figures_draw_and_show_like_pyplots_in_a_script(monkeypatch):
    """A drawing canvas everywhere; fig.show() hands the figure to pyplot (on Agg there is no window to
    open, as for any figure); with a window backend the figure is pyplot's from the start, so plt.show()
    shows it."""
    import warnings

    import fep.viz.figures as figures

    fig = viz.frame_grid(VIDEO, {"m": MAP}, frames=[0, 1])
    fig.canvas.draw()
    assert np.asarray(fig.canvas.buffer_rgba()).shape[2] == 4 and fig.canvas.manager is None  # not pyplot's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some matplotlib versions warn that Agg cannot show a window
        fig.show()
    assert fig.canvas.manager is not None and fig.canvas.manager.num in plt.get_fignums()
    plt.close(fig.canvas.manager.num)
    monkeypatch.setattr(figures, "_pyplot_shows_windows", lambda: True)  # as under TkAgg or QtAgg
    managed = viz.plot_spectrum(MAP)
    assert isinstance(managed, viz.NotebookFigure) and managed.number in plt.get_fignums()
    assert plt.gcf() is managed  # plt.show() shows it with the script's other figures
    plt.close(managed)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="RGB frames"):
        viz.overlay_frames(torch.rand(6, 24, 24), MAP)
    with pytest.raises(ValueError, match="T = 6"):
        viz.overlay_frames(VIDEO, torch.rand(5, 24, 24))


def _every_figure(result):
    return {
        "frame_grid": viz.frame_grid(VIDEO, {"m": MAP}, frames=[0, 1]),
        "plot_spectrum": viz.plot_spectrum(MAP),
        "overlay": viz.overlay(VIDEO, MAP, frame=2),
        "plot_history": viz.plot_history(result),
        "plot_temporal_profile": viz.plot_temporal_profile({"m": MAP}),
        "plot_curves": viz.plot_curves({"c": [1.0, 0.5, 0.2]}),
        "figure": viz.figure(figsize=(2, 2)),
        "plot_frame_changes": viz.plot_frame_changes({"m": MAP}, evidence=torch.tensor([0, 1, 1, 0, 0, 0]).bool()),
        "plot_fep_loop": viz.plot_fep_loop(),
        "plot_gradient_pair": viz.plot_gradient_pair(
            gradient_snapshot(TinyVideoNet(), torch.rand(1, 3, 4, 16, 16), 0, iteration=1, iterations=2, mask_step=4)
        ),
        "plot_two_voxel_paths": viz.plot_two_voxel_paths(two_voxel_paths(steps=5)),
    }


def test_margin_curves_are_drawn_from_the_margins_or_refused_with_the_fix():
    from fep.errors import FepValueError

    curve = {"fractions": [0.0, 0.5, 1.0], "scores": [1.0, 1.0, 1.0], "auc": 1.0, "margins": [1.0, 0.4, 0.0],
             "margin_auc": 0.45}  # fmt: skip
    fig = viz.plot_curves({"m": curve}, margin=True)
    assert fig.axes[0].lines[0].get_ydata().tolist() == [1.0, 0.4, 0.0]
    assert "AUC 0.450" in fig.axes[0].get_legend().get_texts()[0].get_text()
    with pytest.raises(FepValueError, match="use margin=False"):
        viz.plot_curves({"m": {**curve, "margins": None}}, margin=True)


def test_every_figure_is_a_png_for_ipython_without_pyplot():
    """IPython's own formatter (no inline backend registered) turns each returned figure into a PNG."""
    from IPython.core.formatters import DisplayFormatter

    result = extremal_perturbation(TinyVideoNet(), torch.rand(1, 3, 4, 16, 16), 0, iterations=2, progress=False)
    figures = _every_figure(result)
    from test_notebooks import FIGURE_FUNCTIONS

    assert set(figures) == set(FIGURE_FUNCTIONS)
    open_before = len(plt.get_fignums())
    for name, fig in figures.items():
        data, _ = DisplayFormatter().format(fig)
        assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n", name
        assert "<Figure size" not in data["text/plain"], name
        width, height = Image.open(io.BytesIO(data["image/png"])).size
        assert width > 50 and height > 50, name
    assert len(plt.get_fignums()) == open_before  # nothing registered with pyplot


def test_the_fep_loop_diagram_has_every_step_in_order_and_one_highlight():
    from matplotlib.patches import FancyBboxPatch

    from fep.errors import FepValueError

    fig = viz.plot_fep_loop()
    texts = [t.get_text() for t in fig.axes[0].texts]
    names = ["clip", "mask grid", "upsample", "perturb", "model", "energy", "gradient", "DCT low-pass", "step"]
    assert [t for t in texts if t in names] == names
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 9 and len({tuple(b.get_facecolor()) for b in boxes}) == 2  # one box stands out
    assert fig._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(FepValueError, match="not a box of the diagram"):
        viz.plot_fep_loop(highlight="optimiser")


def test_curves_from_deletion_insertion_use_their_shares_on_a_log_axis():
    from fep.bench.faithfulness import removal_fractions

    fractions = removal_fractions(8)
    curve = {"fractions": fractions, "scores": [1.0 - f for f in fractions], "auc": 0.42}
    fig = viz.plot_curves({"F-EP deletion": curve, "even": [1.0, 0.5, 0.0]})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.lines[0].get_xdata()[0] == pytest.approx(0.25)  # % of voxels, the 0 % point left out
    assert "AUC 0.420" in ax.get_legend().get_texts()[0].get_text()
    assert viz.plot_curves({"even": [1.0, 0.5, 0.0]}).axes[0].get_xscale() == "linear"


def test_frame_grid_percentile_and_colour_bars():
    spiky = torch.zeros(6, 24, 24)
    spiky[:, 4:8, 4:8] = 1.0
    spiky[0, 0, 0] = 1000.0  # one huge voxel: scaled by the maximum, the square would vanish
    plain = viz.frame_grid(VIDEO, {"m": spiky}, frames=[1])
    clipped = viz.frame_grid(VIDEO, {"m": spiky}, frames=[1], percentile=99, colorbar=True)
    square = (slice(4, 8), slice(4, 8))
    base = viz.grey_frames(VIDEO)[1][square]
    assert np.abs(plain.axes[1].images[0].get_array()[square] / 255.0 - base).max() < 0.01
    assert np.abs(clipped.axes[1].images[0].get_array()[square] / 255.0 - base).max() > 0.1
    assert len(clipped.axes) == 3  # two frames' axes and one colour bar
    with pytest.raises(ValueError, match="percentile must be in"):
        viz.frame_grid(VIDEO, {"m": spiky}, percentile=0)


def test_colour_bars_show_the_overlay_as_it_is_drawn_on_a_grey_frame():
    grey = torch.full((3, 6, 24, 24), viz.figures._BAR_BACKGROUND)
    ramp = torch.linspace(0, 1, 24)[None, None, :].expand(6, 24, 24)
    drawn = viz.overlay_frames(grey, ramp, vmax=1.0)[0, 0] / 255.0  # one row: the values 0 .. 1
    bar = viz.overlay_colormap()(np.linspace(0, 1, 24))[:, :3]
    assert np.abs(drawn - bar).max() < 0.01
    bare = matplotlib.colormaps[viz.OVERLAY_CMAP](np.linspace(0, 1, 24))[:, :3]
    assert np.abs(drawn - bare).max() > 0.2  # the bare colour map would not match what the frames show
    fig = viz.frame_grid(grey, {"m": ramp}, frames=[0], colorbar=True)
    assert fig.axes[-1]._colorbar.cmap.name == viz.overlay_colormap().name  # the grid's bar is that one


def test_the_overlay_colour_map_avoids_the_actors_yellow_and_the_distractors_cyan():
    from fep.data.samples import load_sample

    clip, truth = load_sample(0)
    t = 6
    actor = viz.rgb_frames(clip.frames)[t][viz.as_numpy(truth["actor_mask"])[t] > 0.5]
    colours = matplotlib.colormaps[viz.OVERLAY_CMAP](np.linspace(0.3, 1, 32))[:, :3]
    nearest = np.linalg.norm(colours[:, None] - actor.mean(0)[None, None], axis=-1).min()
    assert nearest > 0.4, f"a strong overlay colour is within {nearest:.2f} of the actor's colour"
