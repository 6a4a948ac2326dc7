"""fep.course: budgets, the self-check of exercises, and the one copy of each citation."""

import pytest
import torch

from fep.course import REFERENCES, SELF_CHECKS, check, references_markdown
from fep.errors import FepValueError


def test_check_says_not_yet_right_or_wrong_without_printing_the_answer(capsys):
    video = torch.zeros(1, 3, 16, 112, 112)
    check("00-voxels-kept", None, video=video)
    assert "Not answered yet" in capsys.readouterr().out
    check("00-voxels-kept", 10035, video=video)  # 0.05 of 16 × 112 × 112 voxels, to the voxel
    assert "✓ Right" in capsys.readouterr().out
    check("03-area-term", torch.tensor(0.1500001))
    assert "✓ Right" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Not yet: 0.5 is not the expected answer. Sort both") as wrong:
        check("03-area-term", 0.5)
    assert "0.15" not in str(wrong.value)  # the hint, never the answer
    with pytest.raises(AssertionError):
        check("04-lowest-deletion", "gradient", deep={"summary": {"small": {"ig": {"deletion_auc": [0.1]},
                                                                             "gradient": {"deletion_auc": [0.2]}}}})


def test_check_names_an_unknown_exercise_and_missing_objects():
    with pytest.raises(FepValueError, match="No self-check '07-x'; use one of 00-voxels-kept"):
        check("07-x", 1)
    with pytest.raises(FepValueError, match="needs other notebook objects"):
        check("00-voxels-kept", 10035)


def test_each_self_check_expects_what_its_solution_computes():
    """The expected values against an independent computation of each question."""
    from fep.bench import temporal_difference
    from fep.ep.objectives import area_loss, area_reference
    from fep.models import preprocess

    s = torch.rand(16, 8, 8, generator=torch.Generator().manual_seed(0))
    assert SELF_CHECKS["01-temporal-difference"].expected(s=s) == pytest.approx(temporal_difference(s).item())
    assert SELF_CHECKS["02-shortest-period"].expected() == 20.0  # T = 40, cutoff 0.1: k <= 4, period 80 / 4
    v = torch.rand(1, 1, 16, 112, 112, generator=torch.Generator().manual_seed(0))
    m = (v >= v.flatten().kthvalue(int(0.75 * v.numel())).values).float()  # keeps the top 25 %
    measured = area_loss(m, area_reference((0.1,), 16 * 112 * 112), per_frame=False).item()
    assert SELF_CHECKS["03-area-term"].expected() == pytest.approx(measured, abs=1e-3)
    assert tuple(preprocess(torch.rand(3, 2, 240, 320), "r2plus1d_18").shape[-2:]) == (112, 112)
    from fep.models.registry import get_spec

    assert round(112 * get_spec("r2plus1d_18").resize_ratio) == 128  # the short side the check assumes
    assert SELF_CHECKS["05-kinetics-share"].expected() == pytest.approx(112 * 112 / (128 * 171), abs=1e-4)
    from fep.data.samples import load_sample

    _, truth = load_sample(0)  # its actor is drawn 28 px across
    drawn = float(truth["actor_mask"][6].mean())
    assert SELF_CHECKS["06-event-share"].expected() == pytest.approx(drawn * 3 / 16, rel=0.02)


def test_references_put_the_fep_paper_first_and_refuse_unknown_keys():
    text = references_markdown(["sanity", "fep", "sanity"])
    assert text.startswith("## References\n\n1. X. Lin") and text.count("Adebayo") == 1
    assert all("arxiv.org" in v or "doi.org" in v for v in REFERENCES.values())
    with pytest.raises(FepValueError, match="No reference 'lime'"):
        references_markdown(["lime"])
