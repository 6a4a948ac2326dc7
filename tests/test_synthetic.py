import pytest
import torch

from fep.data.synthetic import CLASSES, HELD_OUT, SyntheticConfig, SyntheticVideos, generate_clip


def test_same_seed_same_clip_and_ground_truth_shapes():
    a, b = generate_clip(seed=7), generate_clip(seed=7)
    assert torch.equal(a.video, b.video) and a.label == b.label
    assert a.video.shape == (3, 16, 112, 112) and a.video.min() >= 0 and a.video.max() <= 1
    assert a.actor_mask.shape == (16, 112, 112) and a.actor_mask.dtype == torch.bool
    assert a.boxes.shape == (16, 4) and a.evidence.shape == (16,)
    assert not torch.equal(generate_clip(seed=8).video, a.video)


def test_boxes_enclose_the_actor_and_actor_size_is_realistic():
    clip = generate_clip(seed=3)
    for t in range(16):
        y0, x0, y1, x1 = clip.boxes[t].tolist()
        inside = torch.zeros_like(clip.actor_mask[t])
        inside[y0:y1, x0:x1] = True
        assert torch.equal(clip.actor_mask[t] & inside, clip.actor_mask[t])
        assert clip.actor_mask[t, y0:y1, x0:x1].any(dim=1).all()  # tight box
    share = clip.actor_mask.float().mean().item()
    assert 0.03 < share < 0.25


@pytest.mark.parametrize("label", range(4))
def test_the_actor_moves_in_the_direction_of_its_class(label):
    clip = generate_clip(seed=11, label=label)
    start, stop = clip.params["window"]
    first, last = clip.boxes[start].float(), clip.boxes[stop - 1].float()
    dy, dx = (last[0] - first[0]).item(), (last[1] - first[1]).item()
    expected = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}[label]
    assert (dy > 0) - (dy < 0) == expected[0] and (dx > 0) - (dx < 0) == expected[1], CLASSES[label]
    # Outside the evidence window the actor stands still.
    assert all(torch.equal(clip.boxes[t], clip.boxes[start]) for t in range(start))
    assert all(torch.equal(clip.boxes[t], clip.boxes[stop - 1]) for t in range(stop, 16))
    assert clip.evidence.sum().item() == stop - start


def test_evidence_windows_occur_and_respect_the_minimum():
    windows = [generate_clip(seed=s).params["window"] for s in range(30)]
    partial = [w for w in windows if w != [0, 16]]
    assert 5 < len(partial) < 25
    assert all(stop - start >= SyntheticConfig().window_min for start, stop in windows)


def test_removing_a_layer_changes_only_that_layer():
    full = generate_clip(seed=5)
    no_actor = generate_clip(seed=5, render_actor=False)
    changed = (full.video != no_actor.video).any(dim=0)
    assert changed.any() and not (changed & ~full.actor_mask).any()
    no_distractors = generate_clip(seed=5, render_distractors=False)
    moved = (full.video != no_distractors.video).any(dim=0)
    assert moved.any() and not (moved & full.actor_mask).any()
    assert torch.equal(no_actor.actor_mask, full.actor_mask)  # ground truth kept for the control


def test_dataset_is_balanced_and_deterministic():
    data = SyntheticVideos(8, seed=100)
    assert [data[i][1] for i in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert torch.equal(data[3][0], SyntheticVideos(8, seed=100)[3][0])
    assert data.clip(2).params["seed"] == 102
    assert data.with_config(noise=0.0).config.noise == 0.0
    with pytest.raises(IndexError):
        data.clip(8)


def test_held_out_variant_differs_and_config_is_validated():
    assert HELD_OUT != SyntheticConfig()
    with pytest.raises(ValueError, match="travels"):
        SyntheticConfig(actor_speed=(5.0, 9.0))
    with pytest.raises(ValueError, match="actor_size"):
        SyntheticConfig(actor_size=80)
    with pytest.raises(ValueError, match="label must be"):
        generate_clip(seed=0, label=4)
    small = generate_clip(
        SyntheticConfig(frames=4, size=32, actor_size=8, actor_speed=(1.0, 2.0), window_min=3), seed=1
    )
    assert small.video.shape == (3, 4, 32, 32)


# ---- the task families of the benchmark ----


def test_every_family_generates_clips_with_consistent_ground_truth():
    from fep.data.synthetic import FAMILIES

    for name, config in FAMILIES.items():
        clip = generate_clip(config, seed=3, label=2)
        assert clip.video.shape == (3, 16, 112, 112) and 0 <= clip.video.min() and clip.video.max() <= 1, name
        assert clip.actor_mask.any(dim=(1, 2)).all(), name  # the actor is visible in every frame
        ys, xs = torch.nonzero(clip.actor_mask[5], as_tuple=True)
        assert clip.boxes[5].tolist() == [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1], name


def test_brief_moves_in_two_to_four_frames_and_stands_still_otherwise():
    from fep.data.synthetic import FAMILIES

    for seed in range(12):
        clip = generate_clip(FAMILIES["brief"], seed=seed)
        start, stop = clip.params["window"]
        assert 2 <= stop - start <= 4 and clip.evidence.sum() == stop - start
        moved = [not torch.equal(clip.actor_mask[t], clip.actor_mask[t + 1]) for t in range(15)]
        assert sum(moved) <= stop - start and not any(moved[:start]) and not any(moved[stop:])


def test_lookalike_distractors_are_the_actors_double_and_small_actors_are_small():
    from fep.data.synthetic import FAMILIES

    clip = generate_clip(FAMILIES["lookalike"], seed=1)
    yellow = ((clip.video[0] > 0.85) & (clip.video[2] < 0.3)).float().sum(dim=(1, 2))  # actor-coloured pixels
    actor = clip.actor_mask.float().sum(dim=(1, 2))
    assert (yellow > 2.5 * actor).all()  # three more discs of the same look (they may overlap a little)
    no_distractors = generate_clip(FAMILIES["lookalike"], seed=1, render_distractors=False)
    assert not torch.equal(no_distractors.video, clip.video)
    sizes = {generate_clip(FAMILIES["small"], seed=s).params["actor_size"] for s in range(20)}
    assert min(sizes) >= 12 and max(sizes) <= 16 and len(sizes) > 2


def test_scene_pans_over_a_photograph_while_texture_backgrounds_stand_still():
    from dataclasses import replace

    from fep.data.synthetic import FAMILIES

    quiet = dict(render_actor=False, render_distractors=False)  # the background alone, without sensor noise
    scene = generate_clip(replace(FAMILIES["scene"], noise=0.0), seed=2, **quiet)
    still = generate_clip(replace(FAMILIES["motion"], noise=0.0), seed=2, **quiet)
    assert (scene.video[:, 0] - scene.video[:, -1]).abs().mean() > 0.02  # global motion (the pan), not the class
    assert torch.equal(still.video[:, 0], still.video[:, -1])
    with pytest.raises(ValueError, match="background must be 'texture' or 'photo'"):
        SyntheticConfig(background="video")
