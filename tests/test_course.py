"""fep.course: budgets, the self-check of exercises, and the one copy of each citation."""

import pytest
import torch

from fep.course import REFERENCES, check, references_markdown
from fep.errors import FepValueError


def test_check_says_not_yet_right_or_wrong(capsys):
    check(None, 3)
    assert "Not answered yet" in capsys.readouterr().out
    check(torch.tensor(0.30000001), 0.3, tolerance=1e-6)
    assert "✓ Right" in capsys.readouterr().out
    check((16, 112, 112), (16, 112, 112))
    assert "✓ Right" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Not yet: 0.5 .* Look at the area"):
        check(0.5, 0.3, tolerance=0.01, hint="Look at the area.")
    with pytest.raises(AssertionError):
        check("gradient", "ig")


def test_references_put_the_fep_paper_first_and_refuse_unknown_keys():
    text = references_markdown(["sanity", "fep", "sanity"])
    assert text.startswith("## References\n\n1. X. Lin") and text.count("Adebayo") == 1
    assert all("arxiv.org" in v or "doi.org" in v for v in REFERENCES.values())
    with pytest.raises(FepValueError, match="No reference 'lime'"):
        references_markdown(["lime"])
