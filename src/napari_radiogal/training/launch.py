"""Run ``radiogal train`` in a child process and follow it through its run folder (no GUI).

A training run never shares the caller's memory or threads: :class:`TrainProcess` starts
``python -m napari_radiogal train ...`` (the command line of a :class:`TrainRequest`),
sends its terminal output to ``OUT/train_output.log``, and reads the JSON records the run
appends to ``OUT/train_log.jsonl`` as they arrive (:class:`JsonlFollower`,
:class:`TrainProgress`). The napari "Fine-tune" dock polls it from a timer; a script can
poll it in a loop::

    run = TrainProcess(TrainRequest(data=("mine/annotations/train.json",), out="runs/mine",
                                    init="default")).start()
    while run.running:
        for record in run.poll():
            print(run.progress.text())
        time.sleep(1)
    print(run.state, run.weights or run.error_message())
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_radiogal.training.config import STAGES

#: The stages every ``--stage all`` run has (``host`` and ``classify`` are optional).
_ALWAYS_RUN = ("cam", "recam", "irn")

__all__ = [
    "TrainRequest",
    "TrainProgress",
    "JsonlFollower",
    "TrainProcess",
    "read_stage_epochs",
    "classes_new_to_parent",
    "error_line",
    "TRAIN_LOG",
    "OUTPUT_LOG",
]

log = logging.getLogger(__name__)

TRAIN_LOG = "train_log.jsonl"
OUTPUT_LOG = "train_output.log"
WEIGHTS = "model.safetensors"
ERROR_MARK = "radiogal train: error: "


@dataclass(frozen=True)
class TrainRequest:
    """The options of one ``radiogal train`` run; each field is the CLI option of its name.

    Parameters
    ----------
    data : sequence of str or path
        Training COCO file(s) (``--data``); several files are one training set.
    out : str or path
        Run folder (``--out``).
    val : sequence of str or path
        Validation COCO file(s) (``--val``); empty for none.
    init : str, optional
        Parent model (``--init``): a ``NAME.safetensors`` path or a bundled model's name;
        ``None`` trains from scratch.
    config : str, optional
        Recipe (``--config``): a YAML path or a shipped recipe name (``napari_radiogal/training/configs``).
    epochs : int, optional
        Epochs of every stage (``--epochs``); ``None`` keeps the recipe's.
    device : str
        ``--device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    name : str, optional
        Model name for the weights card (``--name``).
    masks : {"none", "all", "reviewed"}, optional
        Which images' masks and hosts supervise (``--masks``): ``reviewed`` (the
        correction loop: images all of whose instances are marked reviewed), ``all``, or
        ``none`` (class labels only); ``None`` keeps the recipe's.
    stage : str, optional
        ``--stage``: ``host`` adds a host head to the ``init`` model and trains nothing
        else (the correction loop's choice: its masks and classes are kept), ``all`` (or
        ``None``) every stage of the recipe; any other stage name of ``radiogal train``.
    overrides : sequence of str
        ``KEY=VALUE`` recipe overrides (one ``--set`` each).

    Examples
    --------
    >>> TrainRequest(data=["a.json"], out="run", init="default", epochs=2).argv()
    ['train', '--data', 'a.json', '--out', 'run', '--init', 'default', '--config', 'finetune',
     '--epochs', '2', '--device', 'auto', '--no-progress']
    """

    data: Sequence[str | os.PathLike]
    out: str | os.PathLike
    val: Sequence[str | os.PathLike] = ()
    init: str | None = None
    config: str | None = "finetune"
    epochs: int | None = None
    device: str = "auto"
    name: str | None = None
    masks: str | None = None
    stage: str | None = None
    overrides: Sequence[str] = field(default_factory=tuple)

    def argv(self) -> list[str]:
        """The ``radiogal`` arguments, from ``train`` on (progress bars off: output is a file)."""
        args = ["train", "--data", *[os.fspath(p) for p in self.data], "--out", os.fspath(self.out)]
        if self.val:
            args += ["--val", *[os.fspath(p) for p in self.val]]
        for option, value in (
            ("--init", self.init),
            ("--config", self.config),
            ("--epochs", self.epochs),
            ("--device", self.device),
            ("--name", self.name),
            ("--masks", self.masks),
            ("--stage", self.stage),
        ):
            if value is not None:
                args += [option, str(value)]
        for assignment in self.overrides:
            args += ["--set", assignment]
        return [*args, "--no-progress"]

    def command(self, python: str | None = None) -> list[str]:
        """The full command line: ``python -m napari_radiogal train ...``."""
        return [python or sys.executable, "-m", "napari_radiogal", *self.argv()]


def read_stage_epochs(
    run_dir: str | os.PathLike, stage: str | None = None
) -> dict[str, int] | None:
    """Epochs of each stage from ``RUN/config.yaml`` (written when the run starts).

    Parameters
    ----------
    run_dir : str or path
        The run folder.
    stage : str, optional
        The run's ``--stage``: a single stage runs alone (``{"host": 30}``); ``None`` or
        ``"all"``: the stages an ``all`` run has.

    Returns
    -------
    dict of str to int, or None
        ``{"cam": 8, "recam": 2, "irn": 2}``; ``None`` while the file does not exist yet
        (or is still being written).
    """
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:  # caught while the child is still writing it: ask again later
        return None
    present = [s for s in STAGES if isinstance(recipe, dict) and isinstance(recipe.get(s), dict)]
    if not isinstance(recipe, dict) or any(s not in present for s in _ALWAYS_RUN):
        return None
    epochs = {s: int(recipe[s]["epochs"]) for s in present}
    # the optional stages run only when their recipe trains them (the host stage also
    # needs mask supervision: pseudo_labels.masks other than "none")
    masks = (recipe.get("pseudo_labels") or {}).get("masks", "none")
    if stage not in (None, "all"):
        return {stage: epochs[stage]} if stage in epochs else None
    return {
        s: n
        for s, n in epochs.items()
        if s in _ALWAYS_RUN or (n > 0 and (s != "host" or masks != "none"))
    }


class JsonlFollower:
    """Read the records appended to a JSON-lines file since the last call.

    The file may not exist yet, and its last line may be half written: only complete lines
    are returned, the rest waits for the next call.

    Parameters
    ----------
    path : str or path

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> follower = JsonlFollower(path)
    >>> follower.read()
    []
    >>> _ = path.write_text('{"step": 1}\\n{"st')
    >>> follower.read()
    [{'step': 1}]
    >>> with path.open("a") as fh:
    ...     _ = fh.write('ep": 2}\\n')
    >>> follower.read()
    [{'step': 2}]
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                log.warning("%s: skipped a line that is not JSON (%s): %r", self.path, exc, line)
        return records


@dataclass
class TrainProgress:
    """Where a run is, from its ``train_log.jsonl`` records.

    Attributes
    ----------
    stage_epochs : dict of str to int
        Epochs of each stage of the recipe (:func:`read_stage_epochs`); empty until known.
    stage : str or None
        Stage of the last record.
    epoch, step : int
        1-based epoch of that stage and global step within it.
    loss : float or None
        Training loss of the last step record.
    finished : dict of str to int
        Epochs completed per stage.
    epochs : list of dict
        The per-epoch records (``seconds``, ``train_*`` and ``val_*`` numbers), in order.
    """

    stage_epochs: dict[str, int] = field(default_factory=dict)
    stage: str | None = None
    epoch: int = 0
    step: int = 0
    loss: float | None = None
    finished: dict[str, int] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)

    def update(self, record: dict[str, Any]) -> None:
        """Take one record of ``train_log.jsonl`` into account."""
        stage = self.stage = str(record["stage"])
        self.epoch = int(record.get("epoch", self.epoch))
        self.step = int(record.get("step", self.step))
        if "seconds" in record:  # the end-of-epoch record
            self.epochs.append(dict(record))
            self.finished[stage] = max(self.finished.get(stage, 0), self.epoch)
        elif "loss" in record:
            self.loss = float(record["loss"])

    @property
    def done(self) -> int:
        """Epochs completed over all stages."""
        return sum(self.finished.values())

    @property
    def total(self) -> int:
        """Epochs of all stages (0 while the recipe is not known yet)."""
        return sum(self.stage_epochs.values())

    def text(self) -> str:
        """One line: stage, epoch, step and loss of the latest record."""
        if self.stage is None:
            return "Preparing the images…"
        of = self.stage_epochs.get(self.stage)
        epoch = f"{self.epoch}/{of}" if of else str(self.epoch)
        loss = "" if self.loss is None else f", loss {self.loss:.4g}"
        return f"{self.stage}: epoch {epoch}, step {self.step}{loss}"

    def epoch_text(self, record: dict[str, Any]) -> str:
        """One line per finished epoch: its training and validation numbers."""
        of = self.stage_epochs.get(str(record["stage"]))
        where = f"{record['stage']} {record.get('epoch')}" + (f"/{of}" if of else "")
        numbers = [
            f"{key.replace('_', ' ')} {value:.1%}"
            if key.endswith("accuracy")
            else f"{key.replace('_', ' ')} {value:.4g}"
            for key, value in record.items()
            if key in ("train_loss", "val_loss", "val_accuracy")
        ]
        return f"{where}: {', '.join(numbers)} ({record.get('seconds', 0):.1f} s)"


def classes_new_to_parent(init: str | os.PathLike, data: Sequence[str | os.PathLike]) -> list[str]:
    """Classes of the training files that the parent model does not know.

    ``radiogal train --init`` matches classes by name (and by the aliases of
    :func:`~napari_radiogal.models.weights.class_aliases`): a class the parent does not know
    starts untrained. A dock or script can say so before a run starts.

    Parameters
    ----------
    init : str or path
        The parent: a ``NAME.safetensors`` or a bundled model's name.
    data : sequence of str or path
        Training COCO files; firstgalaxydata specs are skipped (their classes are FIRST's).

    Returns
    -------
    list of str
        The new class names, in the order of the files' categories.

    Raises
    ------
    WeightsError
        ``init`` names no weights file or bundled model.
    OSError, ValueError, KeyError
        A COCO file that cannot be read or has no ``categories`` (the run reports it too).
    """
    from napari_radiogal.io.firstgalaxydata import parse_firstgalaxydata_spec
    from napari_radiogal.models.weights import class_aliases, find_weights, read_card

    known = set(read_card(find_weights(init)).classes.names)
    aliases = class_aliases()
    new: list[str] = []
    for path in data:
        if parse_firstgalaxydata_spec(path) is not None:
            continue
        categories = json.loads(Path(path).read_text(encoding="utf-8"))["categories"]
        for name in (str(c["name"]) for c in categories):
            if name not in known and aliases.get(name) not in known and name not in new:
                new.append(name)
    return new


def error_line(output: str) -> str | None:
    """The message of the last ``radiogal train: error: ...`` line of a run's output.

    Examples
    --------
    >>> error_line("INFO ...\\nradiogal train: error: --set cam.nope=1: no such key\\n")
    '--set cam.nope=1: no such key'
    >>> error_line("all fine") is None
    True
    """
    lines = [ln for ln in output.splitlines() if ln.startswith(ERROR_MARK)]
    return lines[-1][len(ERROR_MARK) :].strip() if lines else None


class TrainProcess:
    """One ``radiogal train`` child process and what its run folder says about it.

    Parameters
    ----------
    request : TrainRequest
    python : str, optional
        Interpreter of the child (default: this one).
    env : dict, optional
        Extra environment variables of the child (added to this process's).

    Attributes
    ----------
    progress : TrainProgress
    cancelled : bool
        :meth:`cancel` was called.
    """

    def __init__(
        self,
        request: TrainRequest,
        *,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.request = request
        self.out = Path(request.out)
        self.progress = TrainProgress()
        self.cancelled = False
        self._python = python
        self._env = dict(env or {})
        self._popen: subprocess.Popen | None = None
        self._follower = JsonlFollower(self.out / TRAIN_LOG)
        self._kill_at: float | None = None

    @property
    def output_path(self) -> Path:
        """``OUT/train_output.log``: the command line, then the child's stdout and stderr."""
        return self.out / OUTPUT_LOG

    @property
    def pid(self) -> int | None:
        """The child's process id (also its process group's on POSIX), ``None`` before start."""
        return None if self._popen is None else self._popen.pid

    def start(self) -> TrainProcess:
        """Start the child (returns at once). The run folder must not hold a run already.

        Raises
        ------
        FileExistsError
            ``OUT/train_log.jsonl`` exists: a new run would mix its records with the old ones.
        """
        if (self.out / TRAIN_LOG).exists():
            raise FileExistsError(
                f"{self.out} already holds a training run ({TRAIN_LOG}); choose a new folder."
            )
        self.out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._env}
        # its own process group: Cancel stops the DataLoader workers too, and a Ctrl-C in
        # the terminal of napari is not also delivered to the training
        group: dict[str, Any]
        if sys.platform == "win32":
            group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        else:
            group = {"start_new_session": True}
        command = self.request.command(self._python)
        with open(self.output_path, "wb") as output:
            # the first line says how to run it again from a terminal
            output.write(f"$ {shlex.join(command)}\n".encode())
            output.flush()
            self._popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                **group,
            )
        log.info("training started (pid %d): %s", self._popen.pid, " ".join(self.request.argv()))
        return self

    @property
    def returncode(self) -> int | None:
        """The exit code, ``None`` while the child runs (or before :meth:`start`)."""
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        """Whether the child was started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def poll(self) -> list[dict[str, Any]]:
        """Read the new log records into :attr:`progress` and return them.

        Also kills a cancelled child that outlived its grace period.
        """
        if not self.progress.stage_epochs:
            self.progress.stage_epochs = read_stage_epochs(self.out, self.request.stage) or {}
        records = self._follower.read()
        for record in records:
            self.progress.update(record)
        if self._kill_at is not None and self.running and time.monotonic() >= self._kill_at:
            self._signal(kill=True)
            self._kill_at = None
        return records

    def cancel(self, grace: float = 5.0) -> None:
        """Ask the child and its workers to stop; :meth:`poll` kills them after ``grace`` s.

        POSIX: SIGTERM to the child's process group, SIGKILL at once when ``grace <= 0``.
        Windows: ``TerminateProcess`` of the child.
        """
        self.cancelled = True
        if not self.running:
            return
        self._signal(kill=grace <= 0)
        self._kill_at = time.monotonic() + grace if grace > 0 else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit; its exit code."""
        if self._popen is None:
            raise RuntimeError("the training process was not started")
        return self._popen.wait(timeout)

    def _signal(self, *, kill: bool) -> None:
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        if sys.platform == "win32":
            if kill:
                popen.kill()
            else:
                popen.terminate()
            return
        try:
            os.killpg(popen.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:  # exited between poll() and here
            pass

    @property
    def state(self) -> str:
        """``"not started"``, ``"running"``, ``"finished"``, ``"cancelled"`` or ``"failed"``."""
        code = self.returncode
        if self._popen is None:
            return "not started"
        if code is None:
            return "running"
        if code == 0 and (self.out / WEIGHTS).is_file():
            return "finished"
        return "cancelled" if self.cancelled else "failed"

    @property
    def weights(self) -> Path | None:
        """``OUT/model.safetensors`` of a finished run, else ``None``."""
        return self.out / WEIGHTS if self.state == "finished" else None

    def output(self) -> str:
        """The child's output so far (``OUT/train_output.log``)."""
        try:
            return self.output_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def error_message(self) -> str:
        """Why a failed run stopped: our one-line error, else the last line of its output."""
        text = self.output()
        message = error_line(text)
        if message is None:
            tail = [ln for ln in text.splitlines() if ln.strip()]
            message = tail[-1].strip() if tail else f"exit code {self.returncode}"
            message = f"training stopped ({message}); the whole output is in {self.output_path}"
        return message
