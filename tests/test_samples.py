import numpy as np

from fep.data.samples import SAMPLE_COUNT, SAMPLES_DIR, load_sample, make_sample, sample_paths, write_sample
from fep.data.synthetic import CLASSES
from fep.data.video import load_video


def test_every_shipped_sample_has_video_and_ground_truth():
    labels = set()
    for index in range(SAMPLE_COUNT):
        clip, truth = load_sample(index)
        assert clip.frames.shape == (3, 16, 112, 112)
        assert truth["actor_mask"].shape == (16, 112, 112) and truth["boxes"].shape == (16, 4)
        assert truth["class_name"] == CLASSES[truth["label"]]
        labels.add(truth["label"])
    assert labels == set(range(len(CLASSES)))


def test_regenerating_a_sample_reproduces_the_shipped_files(tmp_path):
    video_path, truth_path = write_sample(1, tmp_path)
    shipped_video, shipped_truth = sample_paths(1, SAMPLES_DIR)
    with np.load(truth_path) as new, np.load(shipped_truth) as old:
        assert sorted(new.files) == sorted(old.files)
        for key in new.files:
            np.testing.assert_array_equal(new[key], old[key])
    # x264's bytes (and so its rounding) vary between encodes; both decode close to the same frames.
    truth = make_sample(1).video
    for path in (video_path, shipped_video):
        assert (load_video(path).frames - truth).abs().mean().item() * 255 <= 3
