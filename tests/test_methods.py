"""The method registry: one list of names, options checked at parse time, labels for plots."""

import ast
import re
from pathlib import Path

import pytest
import torch

from fep.bench.methods import (
    GRADIENT_METHODS,
    PERTURBATION_METHODS,
    REFERENCE,
    REGISTRY,
    get_method,
    label_of,
    parse_method,
)
from fep.testing import TinyVideoNet

FEP_DIR = Path(__file__).resolve().parents[1] / "fep"


def test_parse_checks_options_against_the_function_before_anything_runs():
    method, options = parse_method("fep[temporal_cutoff=0.1,filter_type=ideal,preserve_norm=False,max_batch=None]")
    assert method is REGISTRY["fep"]
    assert options == {"temporal_cutoff": 0.1, "filter_type": "ideal", "preserve_norm": False, "max_batch": None}
    with pytest.raises(ValueError, match="fep has no option 'bogus_option'; its options are: areas, saliency, variant"):
        parse_method("fep[bogus_option=1]")
    with pytest.raises(ValueError, match="smoothgrad has no option 'iterations'; its options are: samples"):
        parse_method("smoothgrad[iterations=3]")
    with pytest.raises(ValueError, match="Unknown method 'lime'"):
        parse_method("lime")
    with pytest.raises(ValueError, match="must look like name=value"):
        parse_method("fep[ideal]")


def test_every_method_runs_through_the_registry():
    model, video = TinyVideoNet(), torch.rand(1, 3, 4, 16, 16)
    quick = {"gradient": {}, "smoothgrad": {"samples": 2, "progress": False}, "gradcam": {},
             "ig": {"steps": 2, "progress": False}, "framediff": {}}  # fmt: skip
    for name, method in REGISTRY.items():
        options = quick[name] if name in quick else {"iterations": 2, "areas": (0.1,), "progress": False}
        saliency = method.saliency(model, video, 1, **options)
        assert saliency.shape == (1, 4, 16, 16), name
    assert set(PERTURBATION_METHODS) | set(GRADIENT_METHODS) | {"framediff"} == set(REGISTRY)
    assert REGISTRY["framediff"].kind == REFERENCE
    assert get_method("step").preset.core_weight == 300 and get_method("gradcam").preset is None


def test_labels_follow_one_naming_scheme():
    assert [REGISTRY[m].label for m in PERTURBATION_METHODS] == ["2D-EP", "3D-EP", "STEP", "F-EP"]
    assert REGISTRY["gradcam"].label == "Grad-CAM-3D"
    assert label_of("fep[filter_type=ideal]") == "F-EP [filter_type=ideal]" and label_of("unknown") == "unknown"


def _string_tuples(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            strings = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if strings:
                yield node.lineno, strings


def test_the_registry_is_the_only_list_of_method_names_in_fep():
    from test_packaging import fep_sources

    import fep.bench.methods
    import fep.ep.presets

    names = set(REGISTRY)
    registries = {Path(fep.bench.methods.__file__), Path(fep.ep.presets.__file__)}  # wherever they live
    others = [path for path in fep_sources() if path not in registries]
    stray = []
    for path in others:
        for line, strings in _string_tuples(ast.parse(path.read_text())):
            if len(names.intersection(strings)) >= 2:
                stray.append(f"{path.relative_to(FEP_DIR)}:{line} {strings}")
    assert not stray, stray
    # and no if-chain on method names: `== "fep"`-style comparisons live nowhere but the registry
    chained = [
        f"{path.relative_to(FEP_DIR)}:{n}"
        for path in others
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"==\s*\"(" + "|".join(names) + r")\"", line)
    ]
    assert not chained, chained
