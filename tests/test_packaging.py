"""The conda environment.yml must name exactly the runtime dependencies of pyproject.toml."""

import os
import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells a few packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_DEPENDENCIES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject_runtime() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {_name(r) for r in data["project"]["dependencies"]}


def _environment_runtime() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-e")}
        else:
            names.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    return names - NOT_DEPENDENCIES


def test_environment_yml_matches_pyproject():
    conda, pypi = _environment_runtime(), _pyproject_runtime()
    assert not pypi - conda, f"environment.yml misses runtime dependencies: {sorted(pypi - conda)}"
    assert not conda - pypi, f"environment.yml adds dependencies pyproject.toml lacks: {sorted(conda - pypi)}"


def _markers(requirements) -> dict[str, str]:
    from packaging.requirements import Requirement

    return {Requirement(r).name.lower(): str(Requirement(r).marker or "") for r in requirements}


def test_decord_is_required_only_where_it_has_wheels_in_both_files():
    from packaging.markers import Marker

    pypi = _markers(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _markers(r for r in pip_section if not r.startswith("-e"))
    assert pypi["decord"] and pypi["decord"] == conda["decord"]
    marker = Marker(pypi["decord"])
    where = {
        ("Linux", "x86_64"): True, ("Windows", "AMD64"): True,
        ("Darwin", "arm64"): False, ("Darwin", "x86_64"): False, ("Linux", "aarch64"): False,
    }  # fmt: skip
    for (system, machine), wanted in where.items():
        assert marker.evaluate({"platform_system": system, "platform_machine": machine}) is wanted, (system, machine)


def test_environment_yml_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_design_card_layout_exists():
    for name in ("notebooks", "fep", "data", "tests", "environment.yml", "README.md", "benchmarks"):
        assert (ROOT / name).exists(), f"{name} is missing from the top level"


def test_make_targets_run_what_the_readme_promises():
    import os
    import subprocess

    def dry(target: str) -> str:
        return subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    lab = dry("lab")
    assert "jupyter lab notebooks/" in lab
    assert ("--allow-root" in lab) == (os.geteuid() == 0)  # JupyterLab refuses root without it
    assert "fep demo" in dry("demo")
    assert "pytest tests" in dry("test")  # tests/test_notebooks.py executes every notebook
    assert 'pytest tests -m "not slow"' in dry("test-fast")
    bench = dry("bench")
    for script in (
        "bench_explain",
        "bench_compile",
        "bench_convergence",
        "bench_torchray",
        "bench_memory",
        "summarize",
    ):
        assert f"benchmarks/{script}.py" in bench
    assert "-e '.[dev,bench]'" in (ROOT / "Makefile").read_text()  # TorchRay comes with the bench extra


def fep_sources() -> list[Path]:
    """Every Python file of the package, subpackages included: what the architecture checks read."""
    return sorted((ROOT / "fep").rglob("*.py"))


def test_the_architecture_checks_read_every_module_of_the_package():
    import pkgutil

    import fep

    modules = {Path(fep.__file__)}
    for info in pkgutil.walk_packages(fep.__path__, "fep."):
        spec = info.module_finder.find_spec(info.name.rsplit(".", 1)[1], None)
        modules.add(Path(spec.origin))
    assert set(fep_sources()) == modules, sorted(set(fep_sources()) ^ modules)


def test_the_loop_reads_top_to_bottom_in_at_most_60_lines_and_names_no_method():
    import inspect

    from fep.bench.methods import REGISTRY
    from fep.ep import engine

    source = inspect.getsource(engine.optimise_masks)
    assert len(source.splitlines()) <= 60
    assert not [name for name in REGISTRY if f'"{name}"' in source]
    assert "E(P)" in engine.__doc__ and "IDCT" in engine.__doc__  # the energy and the F-EP modulation


# --- the wheel: what `pip install fep` gives a user who never sees the repository ---

PACKAGES_DECLARED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_the_wheel_lists_every_package_and_ships_data():
    folders = {f"fep.{p.name}" for p in (ROOT / "fep").iterdir() if (p / "__init__.py").exists()}
    assert set(PACKAGES_DECLARED) == {"fep", "fep._data", *folders}


def test_no_name_in_a_package_shadows_one_of_its_modules():
    """After ``import fep``, ``fep.x`` and ``fep.ep.x`` are the module x wherever a module x exists."""
    import importlib
    import pkgutil

    import fep

    for package in pkgutil.walk_packages(fep.__path__, "fep."):
        if package.ispkg or package.name == "fep":
            parent = importlib.import_module(package.name)
            for module in pkgutil.iter_modules(parent.__path__):
                attribute = getattr(parent, module.name, None)
                if attribute is not None:
                    assert attribute is importlib.import_module(f"{package.name}.{module.name}"), module.name
    for module in pkgutil.iter_modules(fep.__path__):
        attribute = getattr(fep, module.name, None)
        assert attribute is None or attribute is importlib.import_module(f"fep.{module.name}"), module.name


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_virtualenv_and_runs_fep_demo(tmp_path):
    """Built from the files a wheel is made of, installed with nothing downloaded, run outside the checkout."""
    import shutil
    import subprocess
    import sysconfig

    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("fep", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    quiet = {"check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel")], **quiet)  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("fep-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], **quiet)
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **quiet)
    # The dependencies (torch, captum, ...) come from this environment, as a system site would give them.
    (Path(site.stdout.strip()) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    str(wheel)], **quiet)  # fmt: skip
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("FEP_DATA", "PYTHONPATH")}
    where = subprocess.run([str(python), "-c", "import fep.data; print(fep.__file__); print(fep.data.DATA_DIR)"],
                           cwd=outside, env=env, **quiet)  # fmt: skip
    installed, data = where.stdout.split()
    assert Path(installed).is_relative_to(venv) and Path(data).is_relative_to(venv), where.stdout
    fep_command = python.parent / "fep"
    demo = subprocess.run([str(fep_command), "demo", "--iterations", "3", "--areas", "0.1", "--out", "demo"],
                          cwd=outside, env=env, **quiet)  # fmt: skip
    assert (outside / "demo" / "summary.json").exists(), demo.stdout + demo.stderr
    assert {".gif", ".json", ".mp4", ".npz", ".png"} <= {p.suffix for p in (outside / "demo").iterdir()}
