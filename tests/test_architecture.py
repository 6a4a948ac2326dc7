"""The package's architecture, held by tests: wings that import only what lies below them, sizes a reader
can follow, every option defined once, names that do not shadow modules, and a README layout that
matches the tree. Each check walks ``fep/`` recursively, so it keeps its meaning when modules move."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from test_packaging import ROOT, fep_sources

import fep

# The wings, and what each may import besides itself. Errors and atomic writes are beneath everything;
# the test helpers (fep.testing) import only torch. The CLI and the course sit on top.
CORE = {"errors", "atomic"}
ALLOWED = {
    "ep": CORE,
    "data": CORE,
    "models": CORE | {"ep", "data"},
    "baselines": CORE | {"ep", "models"},
    "bench": CORE | {"ep", "baselines", "data", "models"},
    "viz": CORE | {"ep", "data", "bench"},
    "testing": set(),
    "errors": set(),
    "atomic": {"errors"},
    "course": CORE | {"bench"},  # its self-checks compute expected answers with the benchmark's metrics
}


def _wing(module: str) -> str:
    """``fep.ep.engine`` → ``ep``; ``fep`` itself → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``fep`` module a file imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fep":
            if node.module == "fep":  # from fep import viz: the names are modules or top-level API
                found += [(node.lineno, f"fep.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "fep"]
    return found


def test_each_wing_imports_only_the_wings_below_it():
    wrong = []
    for path in fep_sources():
        module = _module_name(path)
        wing = _wing(module)
        if wing not in ALLOWED:  # the package root, the CLI, __main__: may use everything
            continue
        for line, imported in _imports(path):
            other = _wing(imported)
            if other and other != wing and other not in ALLOWED[wing]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({wing}) imports {imported} ({other})")
    assert not wrong, wrong


def test_the_layering_check_would_catch_the_method_importing_the_benchmark(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from fep.bench.methods import REGISTRY\n    return REGISTRY\n")
    (line, imported), = _imports(probe)
    assert _wing(imported) == "bench" and "bench" not in ALLOWED["ep"]


def _long_functions(path: Path, limit: int) -> list[str]:
    long = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return long


def test_no_function_in_fep_is_longer_than_60_lines_and_no_file_longer_than_400():
    """Readable units, split by responsibility: the engine's loop is fep.ep.engine.optimise_masks."""
    long = [entry for path in fep_sources() for entry in _long_functions(path, 60)]
    assert not long, long
    big = [f"{p.relative_to(ROOT)} ({n} lines)" for p in fep_sources() if (n := len(p.read_text().splitlines())) > 400]
    assert not big, big


@pytest.mark.parametrize(("folder", "limit"), [("fep/ep", 12), ("fep", 15)])
def test_cyclomatic_complexity_is_at_most_12_in_the_method_and_15_elsewhere(folder, limit):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", folder, "--select", "C90", "--no-cache", "--output-format", "concise",
         "--config", f"lint.mccabe.max-complexity={limit}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_package_name_shadows_one_of_its_submodules():
    """``fep.ep.dct`` is a module; nothing in ``fep.ep`` may be a function called ``dct``."""
    shadowed = []
    for info in pkgutil.walk_packages(fep.__path__, "fep."):
        if not info.ispkg:
            continue
        package = importlib.import_module(info.name)
        for sub in pkgutil.iter_modules(package.__path__):
            value = getattr(package, sub.name, None)
            if value is not None and not inspect.ismodule(value):
                shadowed.append(f"{info.name}.{sub.name} is a {type(value).__name__}")
    for sub in pkgutil.iter_modules(fep.__path__):
        value = getattr(fep, sub.name, None)
        if value is not None and not inspect.ismodule(value):
            shadowed.append(f"fep.{sub.name} is a {type(value).__name__}")
    assert not shadowed, shadowed


# ---- every option defined once


def _settings_fields():
    from fep.ep.settings import ExplanationSettings

    return [f for f in fields(ExplanationSettings) if f.default is not MISSING]


def test_the_entry_points_signature_is_the_settings_fields_with_their_defaults():
    parameters = inspect.signature(fep.extremal_perturbation).parameters
    options = [p for p in parameters.values() if p.name not in ("model", "video", "target")]
    options = [p for p in options if p.name not in ("progress", "callback", "callback_every")]
    assert [(p.name, p.default) for p in options] == [(f.name, f.default) for f in _settings_fields()]
    assert all(p.kind is p.KEYWORD_ONLY for p in options)


def test_the_cli_flags_are_the_settings_fields_the_cli_offers_with_their_defaults():
    from fep.cli import build_parser

    explain = build_parser()._subparsers._group_actions[0].choices["explain"]
    flags = {a.dest: a for a in explain._actions}
    offered = [f for f in _settings_fields() if f.metadata["cli"]]
    assert {"method", "areas", "iterations", "temporal_cutoff", "spatial_cutoff"} <= {f.name for f in offered}
    for f in offered:
        action = flags[f.name]
        assert action.option_strings == ["--" + f.name.replace("_", "-")]
        assert action.default == f.default, f.name  # one set of defaults for the API and the CLI
        assert f.metadata["help"] in action.help
    settings_names = {f.name for f in _settings_fields()}
    assert not [dest for dest in flags if dest in settings_names and dest not in {f.name for f in offered}]


def test_a_field_added_to_the_settings_reaches_the_signature_the_cli_and_the_docs(monkeypatch):
    """The drift check has teeth: adding a field is enough for every place that lists options."""
    import dataclasses

    import fep.cli.options
    import fep.ep.api
    import fep.ep.settings
    from fep.ep.settings import ExplanationSettings, option

    extended = dataclasses.make_dataclass(
        "ExplanationSettings",
        [("probe_option", int, option(3, "a probe option for this test.", cli=True))],
        bases=(ExplanationSettings,), frozen=True,
    )  # fmt: skip
    monkeypatch.setattr(fep.ep.settings, "ExplanationSettings", extended)
    monkeypatch.setattr(fep.cli.options, "ExplanationSettings", extended)
    signature = fep.ep.api.signature_with_options()
    assert signature.parameters["probe_option"].default == 3
    parser = fep.cli.build_parser()
    explain = parser._subparsers._group_actions[0].choices["explain"]
    assert "--probe-option" in explain.format_help()
    assert "probe_option: a probe option for this test." in fep.ep.settings._attribute_docs()


def test_every_option_has_one_help_sentence_and_a_check_or_choices():
    for f in _settings_fields():
        assert f.metadata["help"].endswith("."), f.name
        assert f.metadata["check"] is not None, f.name  # choices become a check too


def test_old_keywords_warn_and_unknown_ones_name_the_nearest_option():
    from fep.ep.settings import ExplanationSettings
    from fep.errors import FepTypeError

    with pytest.warns(DeprecationWarning, match="where= is now lowpass_at="):
        assert ExplanationSettings.from_keywords(where="update").lowpass_at == "update"
    with pytest.raises(FepTypeError, match="no option 'temporal_cutof'; did you mean temporal_cutoff"):
        ExplanationSettings.from_keywords(temporal_cutof=0.1)


# ---- one model registry


def test_models_are_known_by_the_registry_not_by_class_name_strings():
    from fep.baselines.gradients import default_cam_layer
    from fep.models import REGISTRY, load_model
    from fep.testing import TinyVideoNet

    sniffing = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in fep_sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"type\([a-z_]+\)\.__name__\s*(==|in)", line)
    ]
    assert not sniffing, sniffing
    toy = load_model("toy", weights=None)
    assert default_cam_layer(toy)[0] is toy.features
    tiny = TinyVideoNet()
    assert default_cam_layer(tiny)[0] is tiny.features
    r3d = load_model("r3d_18", weights=None)
    assert default_cam_layer(r3d) == (r3d.layer4, False)
    assert REGISTRY["swin3d_t"].cam_channels_last and REGISTRY["mc3_18_synthetic"].shipped


# ---- the README's layout section


def _readme_layout() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [line.split()[0] for line in block.splitlines() if line.strip() and not line.startswith(" " * 8)]


def test_the_readme_layout_names_every_wing_and_module_and_nothing_that_is_not_there():
    named = _readme_layout()
    missing_on_disk = [entry for entry in named if not (ROOT / entry.rstrip("/")).exists()]
    assert not missing_on_disk, missing_on_disk
    package = [f"fep/{p.name}/" if p.is_dir() else f"fep/{p.name}" for p in sorted((ROOT / "fep").iterdir())
               if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"]  # fmt: skip
    package += [f"notebooks/{p.name}" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    unnamed = [entry for entry in package if entry not in named]
    assert not unnamed, unnamed
