"""The "Fine-tune radio galaxy model" dock widget.

Choose the training data (exported COCO files, or the reviewed images open in this
session), the model to start from and the recipe, then *Start*: the dock runs
``radiogal train`` in a child process (:class:`~napari_radiogal.training.launch.TrainProcess`),
so training never runs on the GUI thread nor in napari's memory. A timer reads the run's
``train_log.jsonl`` as it grows: stage, epoch, step and loss, and one line per finished
epoch with its validation numbers. *Cancel* stops the child (killed if it has not exited
after a grace period); closing the dock or napari stops it too. When the run finishes,
*Load into Segment widget* hands the new weights to the "Segment radio galaxies" dock.

Every file the run writes goes to a new folder under *Runs folder*; the input COCO files
and the layers of the session are only read, so a failed or cancelled run changes nothing.
Errors of ``radiogal train`` (a mask whose size differs from its image, an ``--init``
model of another architecture, a bad ``--set`` key ...) arrive as its one-line message in
a napari notification, and the dock stays ready for the next run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
    TextEdit,
)
from qtpy.QtCore import QEvent, QObject, QTimer

from ._edits import sessions_in

log = logging.getLogger(__name__)

__all__ = ["FinetuneWidget", "reviewed_sessions", "export_sessions"]

COCO_FILES = "Exported COCO files"
SESSION = "Reviewed images of this session"
WEIGHTS_FILE = "Weights file…"
SCRATCH = "Nothing (train from scratch)"
#: The --masks choices: whose masks and hosts supervise (the correction loop: reviewed).
LEARN_FROM = [
    ("reviewed masks and hosts", "reviewed"),
    ("all masks and hosts", "all"),
    ("classes only", "none"),
]
#: The --stage choices. Corrections teach the host head (benchmarks/corrections.py: host
#: AP50 64.3 -> 72.2 after 100 corrected cut-outs, masks and classes kept), while
#: re-training every stage on a few hundred images lowers the masks (README).
TRAIN_WHAT = [
    ("host head only (keeps masks, classes)", "host"),
    ("every stage", "all"),
]
PLUGIN = "napari-radiogal"
SEGMENT_WIDGET = "Segment radio galaxies"
POLL_MS = 500
CANCEL_GRACE_S = 5.0


def reviewed_sessions(viewer) -> tuple[list, list[str]]:
    """The annotations of the viewer that can be trained on, and why the others cannot.

    An image is used when it has at least one instance, every instance is marked reviewed
    (painted instances are) and its radio FITS file is on disk (training reads the pixels
    from the files the COCO record names).

    Returns
    -------
    (list of AnnotationSession, list of str)
        The usable sessions (top layer first) and one reason per skipped image.
    """
    usable, skipped = [], []
    for session in sessions_in(viewer):
        session.sync()
        name = session.labels.name
        reviewed = session.labels.features["reviewed"]
        path = session.ctx.radio_path
        if not len(reviewed):
            skipped.append(f"{name}: no instances")
        elif not reviewed.all():
            n = int((~reviewed.astype(bool)).sum())
            skipped.append(f"{name}: {n} instance{'s' * (n > 1)} not marked reviewed")
        elif path is None or not Path(path).is_file():
            skipped.append(f"{name}: no radio FITS file on disk")
        else:
            usable.append(session)
    return usable, skipped


def export_sessions(sessions, folder: str | Path) -> list[Path]:
    """Write each session as a COCO file in ``folder`` (the File > Save writer's code path).

    Parameters
    ----------
    sessions : list of AnnotationSession
    folder : str or Path
        Created if needed; files are named ``NN-<radio file stem>.json``.

    Returns
    -------
    list of Path
    """
    from napari_radiogal.io.paths import fits_stem

    from ._writer import write_coco_layers

    folder = Path(folder)
    paths = []
    for k, session in enumerate(sessions, start=1):
        layers = [session.labels.as_layer_data_tuple(), session.points.as_layer_data_tuple()]
        stem = f"{k:02d}-{fits_stem(session.ctx.record.file_name)}"
        paths.extend(Path(p) for p in write_coco_layers(str(folder / stem), layers))
    return paths


class _UndockWatch(QObject):
    """Calls back when a docked widget loses its parent (napari's close button on the dock).

    napari then only detaches the widget; without this its training would go on with no
    dock left to show it or cancel it.
    """

    def __init__(self, widget, callback) -> None:
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.ParentChange and obj.parent() is None:
            self._callback()
        return False


def _bundled_choices() -> list[tuple[str, str]]:
    """``(label, name)`` of each bundled model: its file stem and its card name."""
    from napari_radiogal.errors import WeightsError
    from napari_radiogal.models import bundled_models, read_card

    choices = []
    for path in sorted(set(bundled_models().values()), key=lambda p: (p.stem != "default", p)):
        try:
            label = f"{path.stem} ({read_card(path).name})"
        except WeightsError as exc:
            log.warning("bundled model %s: %s", path, exc)
            continue
        choices.append((label, path.stem))
    return choices


def _path_or_none(value) -> Path | None:
    """A FileEdit's value, ``None`` when empty (magicgui gives ``Path('.')`` then)."""
    if value is None or str(value) in ("", "."):
        return None
    return Path(value)


def _paths(values) -> tuple[Path, ...]:
    """The chosen files of a multi-file FileEdit (or a list of paths), empty ones left out."""
    return tuple(p for p in map(_path_or_none, values or ()) if p is not None)


class FinetuneWidget(Container):
    """Dock widget: fine-tune a model on COCO exports or the reviewed session, in a child process.

    Parameters
    ----------
    napari_viewer : napari.Viewer

    Attributes
    ----------
    process : TrainProcess or None
        The current (or last) run.
    weights : Path or None
        The weights of the last finished run.
    """

    def __init__(self, napari_viewer) -> None:
        self.viewer = napari_viewer
        self.process = None
        self.weights: Path | None = None

        self.source = ComboBox(label="Train on", choices=[COCO_FILES, SESSION], value=COCO_FILES)
        self.data_files = FileEdit(label="COCO files", mode="rm", filter="*.json")
        self.data_files.tooltip = "COCO JSON files exported from napari or radiogal simulate"
        self.session_info = Label(value="")
        self.val_files = FileEdit(label="Validation", mode="rm", filter="*.json")
        self.val_files.tooltip = (
            "Optional held-out COCO file(s): their loss and accuracy are shown after every "
            "epoch and select the CAM checkpoint (never the test split)"
        )
        init_choices = [*_bundled_choices(), (WEIGHTS_FILE, WEIGHTS_FILE), (SCRATCH, SCRATCH)]
        self.init = ComboBox(label="Start from", choices=init_choices, value=init_choices[0][1])
        self.init_weights = FileEdit(label="Parent weights", filter="*.safetensors", mode="r")
        self.recipe = LineEdit(label="Recipe", value="finetune")
        self.recipe.tooltip = (
            "A YAML recipe: a path, or a shipped recipe name (paper, cpu, finetune, first)"
        )
        self.masks = ComboBox(label="Learn from", choices=LEARN_FROM, value="reviewed")
        self.masks.tooltip = (
            "reviewed: the masks and hosts of images whose instances are all marked reviewed "
            "train the instance boundaries and the host head, the other images their classes "
            "only; all: every image's masks and hosts; none: the classes alone"
        )
        self.train_what = ComboBox(label="Train", choices=TRAIN_WHAT, value="host")
        self.train_what.tooltip = (
            "host head only: the parent model's masks and classes are kept and a host head "
            "learns the corrected hosts (minutes; the choice for a few hundred corrections); "
            "every stage: the recipe's CAM, ReCAM and IRNet stages too (for a new class or "
            "a large new training set)"
        )
        self.epochs = SpinBox(label="Epochs (0: recipe)", value=0, min=0, max=10_000)
        self.epochs.tooltip = "Epochs of every stage; 0 keeps the recipe's"
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self.settings = LineEdit(label="Settings", value="")
        self.settings.tooltip = (
            "Recipe overrides KEY=VALUE separated by ';', e.g. cam.lr=0.005; irn.epochs=1"
        )
        self.model_name = LineEdit(label="Model name", value="")
        self.run_root = FileEdit(label="Runs folder", mode="d", value=Path.home() / "radiogal-runs")
        self.run_root.tooltip = "Each run writes a new folder here: logs, checkpoints, weights"
        self.start_button = PushButton(text="Start fine-tuning")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="Progress", value=0, min=0, max=1)
        self.status = Label(value="")
        self.history = TextEdit(label="Per epoch", value="")
        self.history.read_only = True
        self.load_button = PushButton(text="Load into Segment widget", visible=False)
        buttons = Container(
            widgets=[self.start_button, self.cancel_button],
            layout="horizontal",
            labels=False,
            label="",
        )
        buttons.margins = (0, 0, 0, 0)
        super().__init__(
            widgets=[
                self.source,
                self.data_files,
                self.session_info,
                self.val_files,
                self.init,
                self.init_weights,
                self.recipe,
                self.masks,
                self.train_what,
                self.epochs,
                self.device,
                self.settings,
                self.model_name,
                self.run_root,
                buttons,
                self.progress,
                self.status,
                self.history,
                self.load_button,
            ],
            labels=True,
            # scrolls rather than growing the window past a laptop screen
            scrollable=True,
        )
        self.status.native.setWordWrap(True)
        self.session_info.native.setWordWrap(True)
        # parented to the widget: the timer dies with the dock
        self._timer = QTimer(self.native)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self.source.changed.connect(self._on_source)
        self.init.changed.connect(self._on_init)
        self.start_button.changed.connect(lambda *_: self.start())
        self.cancel_button.changed.connect(lambda *_: self.cancel())
        self.load_button.changed.connect(lambda *_: self.load_into_segment())
        # closing the dock (or napari) stops the training it started
        self.native.destroyed.connect(self._stop_child)
        self._undock_watch = _UndockWatch(self.native, self._stop_child)
        self._on_source()
        self._on_init()

    # ------------------------------------------------------------------ form
    def _on_source(self, *_) -> None:
        session = self.source.value == SESSION
        self.data_files.visible = not session
        self.session_info.visible = session
        if session:
            self._describe_session()

    def reset_choices(self, *_) -> None:
        """Refresh the form from the viewer (napari calls this when its layers change)."""
        super().reset_choices()
        if self.source.value == SESSION:
            self._describe_session()

    def _describe_session(self) -> None:
        usable, skipped = reviewed_sessions(self.viewer)
        lines = [f"{len(usable)} reviewed image{'s' * (len(usable) != 1)} to train on."]
        lines += [f"Skipped {reason}." for reason in skipped]
        self.session_info.value = "\n".join(lines)

    def _on_init(self, *_) -> None:
        self.init_weights.visible = self.init.value == WEIGHTS_FILE

    def request(self, out: str | Path, data: list[Path] | None = None):
        """The :class:`~napari_radiogal.training.launch.TrainRequest` of the form.

        Parameters
        ----------
        out : str or Path
            The run folder.
        data : list of Path, optional
            Training COCO files (default: the chosen files).

        Raises
        ------
        ValueError
            A required choice is missing; the message says which.
        """
        from napari_radiogal.training.launch import TrainRequest

        options = self._options()
        data = _paths(self.data_files.value if data is None else data)
        if not data:
            raise ValueError("Choose the COCO file(s) to train on.")
        return TrainRequest(data=data, out=Path(out), **options)

    def _options(self) -> dict:
        """The request's fields but data and out (``ValueError`` when one is missing)."""
        init = self.init.value
        if init == WEIGHTS_FILE:
            init = _path_or_none(self.init_weights.value)
            if init is None:
                raise ValueError("Choose the parent weights file (NAME.safetensors).")
            init = str(init)
        elif init == SCRATCH:
            init = None
        stage = self.train_what.value
        if stage == "host" and init is None:
            raise ValueError(
                "The host head is added to a trained model: choose one under 'Start from', "
                "or 'Train: every stage' to train from scratch."
            )
        if stage == "host" and self.masks.value == "none":
            raise ValueError(
                "The host head learns from corrected hosts: choose 'Learn from: reviewed' "
                "(or all), or 'Train: every stage' to learn from the classes alone."
            )
        return {
            "val": _paths(self.val_files.value),
            "init": init,
            "config": self.recipe.value.strip() or None,
            "epochs": self.epochs.value or None,
            "device": self.device.value,
            "name": self.model_name.value.strip() or None,
            "masks": self.masks.value,
            "stage": stage,
            "overrides": tuple(s.strip() for s in self.settings.value.split(";") if s.strip()),
        }

    def _new_run_folder(self) -> Path:
        root = _path_or_none(self.run_root.value) or Path.home() / "radiogal-runs"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out, k = root / f"finetune-{stamp}", 1
        while out.exists():
            k += 1
            out = root / f"finetune-{stamp}-{k}"
        return out

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        """A run was started and its end not yet shown (the child may just have exited)."""
        return self._timer.isActive()

    def start(self):
        """Start a training run in a child process; returns its ``TrainProcess`` (or None)."""
        from napari.utils.notifications import show_error, show_info

        from napari_radiogal.training.launch import TrainProcess

        if self.running:
            show_error("A fine-tuning run is going on; cancel it first.")
            return None
        out = self._new_run_folder()
        try:
            data = None
            if self.source.value == SESSION:
                usable, _ = reviewed_sessions(self.viewer)
                if not usable:
                    raise ValueError(
                        "No reviewed image to train on: mark the instances reviewed in "
                        "'Radio galaxy instances' (images opened from FITS files only)."
                    )
                self._options()  # a form error must not leave a run folder behind
                data = export_sessions(usable, out / "annotations")
            request = self.request(out, data)
            self._warn_about_new_classes(request)
            process = TrainProcess(request).start()
        except (ValueError, OSError) as exc:
            show_error(str(exc))
            self.status.value = f"Not started: {exc}"
            return None
        self.process, self.weights = process, None
        self.start_button.enabled, self.cancel_button.enabled = False, True
        self.load_button.visible = False
        self.progress.max, self.progress.value = 0, 0  # busy until the recipe is known
        self.history.value = ""
        self.status.value = f"Training in {out}…"
        show_info(f"Fine-tuning started; run folder {out}")
        self._timer.start()
        return process

    @staticmethod
    def _warn_about_new_classes(request) -> None:
        """Say which classes of the data the parent model does not know (they start untrained)."""
        from napari.utils.notifications import show_warning

        from napari_radiogal.errors import RadiogalError
        from napari_radiogal.training.launch import classes_new_to_parent

        if request.init is None:
            return
        try:
            new = classes_new_to_parent(request.init, request.data)
        except (RadiogalError, OSError, ValueError, KeyError) as exc:
            # advice only: the run itself stops on a bad file or parent, with its message
            log.debug("no class check before the run: %s", exc)
            return
        if new:
            show_warning(
                f"Classes new to the parent model: {', '.join(new)}. They start untrained; "
                "the classes it knows keep their training."
            )

    def cancel(self) -> None:
        """Stop the running training (terminated, then killed after a grace period)."""
        if self.process is None or not self.process.running:
            return
        self.process.cancel(grace=CANCEL_GRACE_S)
        self.status.value = "Cancelling…"

    def poll(self) -> None:
        """Read the run's new log records into the dock; finish when the child has exited."""
        process = self.process
        if process is None:
            return
        records = process.poll()
        progress = process.progress
        if progress.total:
            self.progress.max, self.progress.value = progress.total, progress.done
        epochs = [progress.epoch_text(r) for r in records if "seconds" in r]
        if epochs:
            self.history.value = "\n".join(filter(None, [self.history.value, *epochs]))
        if process.running:
            if not process.cancelled:
                self.status.value = progress.text()
            return
        self._timer.stop()
        self._finished(process)

    def _finished(self, process) -> None:
        from napari.utils.notifications import show_error, show_info

        self.start_button.enabled, self.cancel_button.enabled = True, False
        state = process.state
        # out of the busy state: the epochs done of those planned (all of them when finished)
        self.progress.max = max(process.progress.total, process.progress.done, 1)
        self.progress.value = min(process.progress.done, self.progress.max)
        if state == "finished":
            self.weights = process.weights
            self.progress.value = self.progress.max
            self.status.value = f"Finished: {self.weights}"
            self.load_button.visible = True
            show_info(f"Fine-tuning finished: {self.weights}")
        elif state == "cancelled":
            self.status.value = f"Cancelled (partial run in {process.out})."
            show_info("Fine-tuning cancelled.")
        else:
            message = process.error_message()
            self.status.value = f"Failed: {message}"
            show_error(f"Fine-tuning failed: {message}")

    def _stop_child(self, *_) -> None:
        if self.process is not None and self.process.running:
            log.info("fine-tune dock closed: stopping training pid %s", self.process.pid)
            self.process.cancel(grace=0)

    # ------------------------------------------------------------------ result
    def load_into_segment(self):
        """Give the finished run's weights to the Segment dock (opened if needed).

        Returns
        -------
        SegmentWidget or None
            ``None`` when there are no weights to load.
        """
        from napari.utils.notifications import show_error, show_info

        if self.weights is None or not self.weights.is_file():
            show_error("No finished fine-tuning run to load.")
            return None
        _, segment = self.viewer.window.add_plugin_dock_widget(PLUGIN, SEGMENT_WIDGET)
        segment.use_weights(self.weights)
        show_info(f"Segment widget: model {self.weights}")
        return segment
