"""The run folder of ``radiogal train``: when a run may write into it, and what it replaces.

A folder that already holds a run (any of :func:`run_files`) is never trained into by
accident: a new run there needs ``overwrite=True`` (``--overwrite-run``), which deletes the
files the new run would write, and ``resume=True`` (``--resume``) continues only with the
recipe stored in ``OUT/config.yaml``, apart from the keys named in ``allow_change``
(``--allow-change cam.epochs,irn.epochs``).
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from napari_radiogal.errors import ConfigError
from napari_radiogal.training.config import STAGES, TrainConfig

__all__ = [
    "RUN_OPTIONS",
    "run_files",
    "check_run_folder",
    "recipe_changes",
    "clear_run",
]

log = logging.getLogger(__name__)

#: Recipe keys that never change what a run computes: free to differ on ``--resume``.
RUN_OPTIONS = ("num_workers", "log_every_steps", "checkpoint_every_steps")

_RUN_FILES = ("config.yaml", "train_log.jsonl", "pseudo_labels.npz", "model.safetensors")
_STAGE_FILES = ("last.pt", "best.pt")


def run_files(out: str | Path) -> list[Path]:
    """The files of a training run found in ``out`` (empty: no run there).

    The pre-processing cache is not one of them: it is shared between runs.
    """
    out = Path(out)
    names = [*_RUN_FILES, "model.json", *(f"{s}/{f}" for s in STAGES for f in _STAGE_FILES)]
    return [out / n for n in names if (out / n).is_file()]


def check_run_folder(
    out: str | Path,
    config: TrainConfig,
    stages: Sequence[str],
    *,
    resume: bool,
    overwrite: bool,
    allow_change: Iterable[str] = (),
) -> None:
    """Refuse to train into ``out`` unless that keeps an earlier run safe; writes nothing.

    Parameters
    ----------
    out : path
        The run folder.
    config : TrainConfig
        The recipe of this call.
    stages : sequence of str
        The stages this call runs. On resume, the recipe sections of those among them that
        have a checkpoint in ``out`` are compared, and the top-level and ``preprocess`` keys.
    resume, overwrite : bool
        ``--resume`` and ``--overwrite-run`` (not both).
    allow_change : iterable of str
        Recipe keys (``cam.epochs``) or sections (``irn``) that may differ on resume.

    Raises
    ------
    ConfigError
        ``out`` is a file; ``out`` holds a run and neither flag is given; ``resume`` with a
        recipe that differs from ``out/config.yaml`` in keys not allowed to change (the
        message lists them); or an unknown ``allow_change`` key.
    """
    out = Path(out)
    allowed = _checked_keys(allow_change, config)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite-run exclude each other; give one.")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; give the run's folder.")
    found = run_files(out)
    if not found:
        if resume:
            log.warning("%s holds no run to resume: starting a new run there", out)
        return
    if overwrite:
        return
    if not resume:
        names = ", ".join(p.relative_to(out).as_posix() for p in found[:3])
        raise ConfigError(
            f"{out} already holds a training run ({names}); add --resume to continue it "
            "(or to run a further --stage), "
            "--overwrite-run to train it again from the start (its checkpoints and model "
            "are replaced), or give another --out."
        )
    stored = _stored_recipe(out / "config.yaml")
    # a stage that has not started yet may still take any recipe
    started = [s for s in stages if (out / s / "last.pt").is_file()]
    changes = recipe_changes(stored, config, started)
    refused = {k: v for k, v in changes.items() if not _allowed(k, allowed)}
    if refused:
        said = "; ".join(
            f"{k}: {json.dumps(a)} -> {json.dumps(b)}" for k, (a, b) in refused.items()
        )
        raise ConfigError(
            f"--resume with a recipe other than the run's ({said}); resume with the same "
            f"options (or --config {out / 'config.yaml'}), allow the change with "
            f"--allow-change {','.join(refused)}, or start again with --overwrite-run."
        )


def recipe_changes(
    stored: Mapping[str, Any], config: TrainConfig, stages: Sequence[str]
) -> dict[str, tuple[Any, Any]]:
    """The recipe keys whose value differs between a stored recipe and ``config``.

    Only the keys that matter to ``stages`` are compared: the top-level and ``preprocess``
    keys and the sections of ``stages`` (``pseudo_labels`` with ``irn``), never
    :data:`RUN_OPTIONS`.

    Returns
    -------
    dict
        ``{"cam.epochs": (stored, new)}``; a key absent on one side has the value ``None``.

    Examples
    --------
    >>> old = TrainConfig().to_dict()
    >>> recipe_changes(old, TrainConfig().with_overrides(["cam.epochs=2"]), ["cam"])
    {'cam.epochs': (30, 2)}
    >>> recipe_changes(old, TrainConfig().with_overrides(["cam.epochs=2"]), ["irn"])
    {}
    """
    skipped = {s for s in STAGES if s not in stages}
    if "irn" not in stages:
        skipped.add("pseudo_labels")
    before, after = _flat(stored), _flat(config.to_dict())
    changes = {}
    for key in [*after, *(k for k in before if k not in after)]:
        if key.split(".")[0] in skipped or key in RUN_OPTIONS:
            continue
        if before.get(key) != after.get(key):
            changes[key] = (before.get(key), after.get(key))
    return changes


def clear_run(out: str | Path, stages: Sequence[str]) -> list[Path]:
    """Delete what an earlier run in ``out`` left that a run of ``stages`` would replace.

    The checkpoints of the first stage run and every later one (they derive from it), the
    pseudo-labels, the exported model and those stages' records in ``train_log.jsonl``.
    Earlier stages' checkpoints stay (``--stage recam`` starts again from the CAM stage),
    and so does the pre-processing cache.

    Returns
    -------
    list of Path
        The files deleted.
    """
    out = Path(out)
    redone = STAGES[min(STAGES.index(s) for s in stages) :]
    doomed = [out / s / f for s in redone for f in _STAGE_FILES]
    doomed += [out / n for n in ("pseudo_labels.npz", "model.safetensors", "model.json")]
    deleted = [p for p in doomed if p.is_file()]
    for path in deleted:
        path.unlink()
    journal = out / "train_log.jsonl"
    if journal.is_file():
        kept = [
            line
            for line in journal.read_text(encoding="utf-8").splitlines(keepends=True)
            if line.strip() and json.loads(line).get("stage") not in redone
        ]
        journal.write_text("".join(kept), encoding="utf-8")
    if deleted:
        log.warning("--overwrite-run: deleted %s", ", ".join(str(p) for p in deleted))
    return deleted


def _stored_recipe(path: Path) -> Mapping[str, Any]:
    import yaml

    if not path.is_file():
        raise ConfigError(
            f"{path} not found: the recipe of the run to resume is unknown; put it back, "
            "or start again with --overwrite-run."
        )
    try:
        stored = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not a readable YAML recipe ({type(exc).__name__}); put the run's "
            "recipe back, or start again with --overwrite-run."
        ) from exc
    if not isinstance(stored, Mapping):
        raise ConfigError(f"{path} holds no recipe mapping; start again with --overwrite-run.")
    return stored


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"cam": {"lr": 0.1}}`` -> ``{"cam.lr": 0.1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def _checked_keys(keys: Iterable[str], config: TrainConfig) -> list[str]:
    """``allow_change`` entries, each a recipe key or section of ``config``."""
    known = _flat(config.to_dict())
    sections = {k.split(".")[0] for k in known if "." in k}
    out = []
    for key in (k.strip() for item in keys for k in item.split(",")):
        if not key:
            continue
        if key not in known and key not in sections:
            hint = difflib.get_close_matches(key, [*known, *sections], n=1)
            raise ConfigError(
                f"--allow-change {key!r}: no such recipe key"
                + (f"; did you mean {hint[0]!r}?" if hint else "; e.g. cam.epochs or irn.")
            )
        out.append(key)
    return out


def _allowed(key: str, allowed: Iterable[str]) -> bool:
    return any(key == a or key.startswith(a + ".") for a in allowed)
