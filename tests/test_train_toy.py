import json

import pytest
import torch

from fep import models
from fep.synthetic import SyntheticConfig
from fep.testing import same_weights
from fep.train_toy import evaluate, main, train

SMALL = SyntheticConfig(frames=6, size=32, actor_size=8, actor_speed=(1.0, 2.0), distractor_size=4, window_min=3)


def test_same_seed_same_weights_on_a_short_run():
    a = train(SMALL, steps=3, batch_size=2, seed=4, progress=False)
    b = train(SMALL, steps=3, batch_size=2, seed=4, progress=False)
    c = train(SMALL, steps=3, batch_size=2, seed=5, progress=False)
    assert same_weights(a, b)
    assert not same_weights(a, c)
    assert not torch.are_deterministic_algorithms_enabled()  # global setting restored


@pytest.mark.slow
def test_shipped_model_card_holds_on_a_fresh_evaluation_sample():
    # 32 clips per control: a quick re-check that the committed card does not overstate the model.
    accuracy = evaluate(models.load_model("toy"), clips=32, progress=False)
    assert accuracy["ordered"] >= 0.9
    assert accuracy["distractors_removed"] >= 0.9
    assert accuracy["shuffled_frames"] <= 0.5
    assert accuracy["actor_removed"] <= 0.5


def test_command_writes_weights_and_card(tmp_path, capsys):
    assert main(["--steps", "1", "--batch-size", "2", "--eval-clips", "4", "--out", str(tmp_path)]) == 0
    card = json.loads((tmp_path / models.TOY_CARD).read_text())
    assert card["sha256"] == models.sha256_of(tmp_path / models.TOY_WEIGHTS)
    assert set(card["evaluation"]["accuracy"]) == {
        "ordered", "shuffled_frames", "actor_removed", "distractors_removed", "held_out_variant",
    }  # fmt: skip
    assert models.load_model("toy", weights=tmp_path / models.TOY_WEIGHTS) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == [models.TOY_WEIGHTS, models.TOY_CARD]
    assert main(["--out", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
