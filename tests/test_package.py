"""Package-level contracts: cheap import, CLI basics, import boundaries, CI == README."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import napari_radiogal
from napari_radiogal.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_version_comes_from_one_place():
    from napari_radiogal._version import __version__

    assert napari_radiogal.__version__ == __version__
    assert re.match(r"^\d+\.\d+\.\d+", __version__)


def test_import_loads_no_torch_napari_or_qt():
    code = (
        "import sys, json, napari_radiogal, napari_radiogal.cli, napari_radiogal.annotations, "
        "napari_radiogal.classes;"
        "heavy = [m for m in ('torch', 'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', "
        "'magicgui', 'torchvision', 'reproject', 'pycocotools') if m in sys.modules];"
        "print(json.dumps(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert napari_radiogal.__version__ in capsys.readouterr().out


def test_cli_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "radiogal" in out


def test_command_help_keeps_examples_verbatim_and_wraps_prose(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    # an example's line continuation stays at the end of its own line
    example = next(line for line in out.splitlines() if "radiogal train --data" in line)
    assert example.startswith("  ") and example.rstrip().endswith("\\")
    assert all(len(line) <= 100 for line in out.split("examples:")[0].splitlines())


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "napari_radiogal", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert napari_radiogal.__version__ in out.stdout


def test_import_boundaries_hold():
    """The import-linter contracts of pyproject.toml: GUI only in _napari, inference never
    imports training, and the layers (indirect imports included)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports;sys.exit(lint_imports())",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"]
)
def test_ruff_finds_nothing(command):
    """ruff (configured in pyproject.toml) is clean over src, tests and benchmarks."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)\n```", readme, flags=re.S)
    test_cmds = [c for c in commands if "pytest" in c and "pip install" in c]
    assert test_cmds, "README must give the install-and-test command in a ```bash block"
    assert test_cmds[0].strip() in ci


def test_manifest_is_valid_npe2():
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(REPO / "src" / "napari_radiogal" / "napari.yaml")
    assert manifest.name == "napari-radiogal"
