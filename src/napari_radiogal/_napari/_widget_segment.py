"""The "Segment radio galaxies" widget.

Choose the radio and infrared layers, the model (the bundled default or a weights file),
the device (only those available here; the label says what it actually ran on) and the
inference options, whose form is generated from
:func:`napari_radiogal.inference.config.config_fields` so that it cannot drift from the
``radiogal predict`` command. The everyday options (:data:`EVERYDAY_OPTIONS`) are always
shown; the others wait in a collapsed *Advanced* group, which scrolls when opened rather
than growing the window past a laptop screen. *Segment* runs
:func:`napari_radiogal.inference.segment` in a napari ``thread_worker``: the GUI stays live,
progress shows in napari's activity dock, and *Cancel* (here or in the activity dock) stops
the run at the next stage. *Click to segment* (:mod:`._click`) segments the one source
under a click instead, and the canvas keys of correcting are bound with it.

Each run is a :class:`Job` tagged with the layers' ids and a fingerprint of their data. The
result is applied only if the radio (and IR) layers still exist with the same data; a result
computed for data that changed meanwhile is dropped with a notification, never written onto
the wrong image. Results (from the worker, or injected by tests through :meth:`deliver`)
go through :func:`~._apply.add_annotations`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from qtpy.QtCore import QObject, Signal

from ._apply import (
    _has_contours,
    add_annotations,
    infrared_layers,
    prepare_layers,
    radio_layers,
    radio_snapshot,
    restore_sidecar,
)
from ._autosave import existing_sidecar
from ._click import ClickSegmenter, click_toggle, install_shortcuts
from ._display import full_resolution
from ._layers import data_fingerprint
from ._layout import toggle_button
from ._status import connect_while_alive, install_sky_status
from ._torch_guard import prepare_torch_import

log = logging.getLogger(__name__)

__all__ = ["SegmentWidget", "Job", "EVERYDAY_OPTIONS", "layer_input", "load_chosen_model"]

DEFAULT_MODEL = "Bundled model that fits the image"
FILE_MODEL = "Weights file…"
NO_IR = "(none)"

#: The inference options shown outside the Advanced group.
EVERYDAY_OPTIONS = ("class_threshold", "score_threshold")

#: Characters a layer or model choice shows before it is elided (keeps the dock narrow).
CHOICE_CHARS = 16
#: Height (px) of the opened Advanced group, which scrolls.
ADVANCED_MAX_PX = 320


@dataclass
class Job:
    """One segmentation run: what it was computed for, so stale results can be dropped.

    Attributes
    ----------
    radio_layer, ir_layer
        The layers (``ir_layer`` may be ``None``).
    radio_id, ir_id
        Their napari ``unique_id``.
    radio_fp, ir_fp : str
        :func:`~._layers.data_fingerprint` of their data when the job started.
    """

    radio_layer: Any
    ir_layer: Any = None
    radio_id: Any = None
    ir_id: Any = None
    radio_fp: str = ""
    ir_fp: str | None = None
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def for_layers(cls, radio_layer, ir_layer=None) -> Job:
        return cls(
            radio_layer=radio_layer,
            ir_layer=ir_layer,
            radio_id=radio_layer.unique_id,
            ir_id=None if ir_layer is None else ir_layer.unique_id,
            radio_fp=data_fingerprint(full_resolution(radio_layer)),
            ir_fp=None if ir_layer is None else data_fingerprint(full_resolution(ir_layer)),
        )

    def stale_reason(self, viewer) -> str | None:
        """Why the result must not be applied any more (``None`` when it still fits)."""
        if self.radio_layer not in viewer.layers or self.radio_layer.unique_id != self.radio_id:
            return f"the radio layer '{self.radio_layer.name}' was removed"
        if data_fingerprint(full_resolution(self.radio_layer)) != self.radio_fp:
            return f"the data of '{self.radio_layer.name}' changed while it was being segmented"
        if self.ir_layer is not None:
            if self.ir_layer not in viewer.layers:
                return f"the infrared layer '{self.ir_layer.name}' was removed"
            if data_fingerprint(full_resolution(self.ir_layer)) != self.ir_fp:
                return f"the data of '{self.ir_layer.name}' changed while it was being segmented"
        return None


def _closed(widget) -> bool:
    """Whether a magicgui widget's Qt side was deleted (its dock closed, the viewer shut).

    Signals queued from worker threads can arrive after that; their slots must do nothing.
    """
    try:
        widget.native.objectName()
    except RuntimeError:
        return True
    return False


class _ProgressRelay(QObject):
    """Carries ``progress(done, total)`` from the worker thread to the GUI thread."""

    progressed = Signal(int, int)
    devices = Signal(list)


def _card_settings(weights: Path | None) -> dict[str, Any]:
    """The inference settings a weights card recommends (``{}`` when it has none or cannot
    be read: the model line says why)."""
    from napari_radiogal.errors import WeightsError
    from napari_radiogal.models import read_card

    try:
        return dict(read_card(weights).inference) if weights is not None else {}
    except WeightsError:
        return {}


def _recommended(settings: dict[str, Any]) -> str:
    """``". Its card sets class threshold 0.15 (...)"`` for a card's settings, or ``""``."""
    if not settings:
        return ""
    listed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in settings.items())
    return f". Its card sets {listed} (shown in the options; yours win once changed)"


def _option_widget(spec: dict[str, Any]):
    """A magicgui widget for one :class:`InferenceConfig` field (from its metadata)."""
    name, default, tip = spec["name"], spec["default"], spec.get("help", "")
    label = name.replace("_", " ")
    if spec.get("choices"):
        w = ComboBox(name=name, label=label, choices=list(spec["choices"]), value=default)
    elif isinstance(default, bool):
        w = CheckBox(name=name, label=label, value=default)
    elif isinstance(default, int):
        w = SpinBox(
            name=name,
            label=label,
            value=default,
            min=int(spec.get("min", 0)),
            max=int(spec.get("max", 10**9)),
        )
    elif isinstance(default, float):
        lo, hi = float(spec.get("min", -1e9)), float(spec.get("max", 1e9))
        step = max((hi - lo) / 100.0, 0.01) if hi - lo <= 10 else 0.5
        decimals = 3
        if 0 < abs(default) < step:  # e.g. unclaimed_score_factor 1e-3: its own scale
            step = abs(default)
            decimals = max(decimals, math.ceil(-math.log10(abs(default))) + 1)
        w = FloatSpinBox(name=name, label=label, min=lo, max=hi, step=step)
        # decimals before the value: at magicgui's default two, 0.001 would be stored as 0
        w.native.setDecimals(decimals)
        w.value = default
    elif isinstance(default, tuple):
        w = LineEdit(name=name, label=label, value=", ".join(f"{v:g}" for v in default))
    else:
        w = LineEdit(name=name, label=label, value=str(default))
    w.tooltip = tip
    return w


def _narrow(combo: ComboBox) -> ComboBox:
    """Let a combo box be narrower than its longest choice (the canvas needs the width)."""
    from qtpy.QtWidgets import QComboBox

    combo.native.setSizeAdjustPolicy(
        QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    )
    combo.native.setMinimumContentsLength(CHOICE_CHARS)
    return combo


def load_chosen_model(radio, infrared, model_path, settings):
    """The model a run uses, loaded (cached per process), and the settings it runs with.

    Parameters
    ----------
    radio, infrared
        The run's inputs (the bundled model that fits them is chosen when ``model_path``
        is ``None``).
    model_path : Path or None
        The weights file chosen in the form.
    settings : dict
        The options the user set (:meth:`SegmentWidget.settings`); the model's card fills
        in the rest (:meth:`~napari_radiogal.inference.LoadedModel.config`), as ``radiogal
        predict`` does.

    Returns
    -------
    (LoadedModel, InferenceConfig)
    """
    prepare_torch_import()
    from napari_radiogal.inference import InferenceConfig, load_model

    config = InferenceConfig().replace(**settings)
    if model_path is None:
        from napari_radiogal.inference import choose_bundled_model

        model_path = choose_bundled_model(
            radio, has_infrared=infrared is not None, beam=config.beam or None
        ).path
    model = load_model(model_path, device=config.device)
    return model, model.config(**settings)


def _segment_in_thread(
    radio, infrared, model_path, settings, on_progress, cancel, snapshot, contours
):
    """Worker body: load the model (cached), segment, and prepare the layer data.

    Everything but creating the layers happens here, off the GUI thread: the network, the
    conversion to Labels/Points data with fluxes and sizes, and the radio contours.

    Returns
    -------
    (Prediction, str, float, PreparedLayers)
        The prediction, the device it ran on, the seconds it took, the layer data.
    """
    from napari_radiogal.inference import InferenceCancelled, segment

    t0 = time.perf_counter()
    model, config = load_chosen_model(radio, infrared, model_path, settings)
    if cancel():
        raise InferenceCancelled("segmentation cancelled before it started")
    prediction = segment(
        radio, infrared, model=model, config=config, progress=on_progress, cancel=cancel
    )
    snapshot.info = dict(prediction.provenance)
    prepared = prepare_layers(prediction.to_dataset(), snapshot, contours=contours)
    return prediction, str(model.device), time.perf_counter() - t0, prepared


def _is_lazy_layer(layer, image) -> bool:
    """Whether a layer shows a memory-mapped image unchanged: the worker reads it itself
    (window by window), so the GUI thread copies nothing."""
    from napari_radiogal.io.fits import is_lazy

    return image is not None and full_resolution(layer) is image.data and is_lazy(image)


def layer_input(layer, *, copy: bool = True):
    """A layer's pixels with its WCS and beam, for a worker thread (which never touches layers).

    Parameters
    ----------
    layer : napari Image layer or None
    copy : bool
        ``True``: a float32 copy (a whole run reads every pixel; edits made meanwhile must
        not reach it), the lazy image itself when the layer shows a memory-mapped file.
        ``False``: the layer's own array (a click reads one window of it; a result computed
        while the data changed is dropped by the :class:`Job` check).

    Returns
    -------
    RadioImage / InfraredImage, ndarray of shape (H, W), or None
    """
    if layer is None:
        return None
    image = layer.metadata.get("image")
    pixels = full_resolution(layer)
    if not copy:
        if image is None:
            return np.asarray(pixels)
        return image if pixels is image.data else dataclasses.replace(image, data=pixels)
    if _is_lazy_layer(layer, image):
        return image
    data = np.array(pixels, dtype=np.float32, copy=True)
    return data if image is None else dataclasses.replace(image, data=data)


class SegmentWidget(Container):
    """Dock widget: segment the radio galaxies of a radio (+ IR) image.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer) -> None:
        from napari_radiogal.inference.config import config_fields
        from napari_radiogal.models import default_weights_path

        self.viewer = napari_viewer
        self.worker = None
        self.job: Job | None = None
        self.last_result = None
        self.last_seconds: float | None = None
        self.last_timings: dict[str, float] = {}
        self._cancel = threading.Event()
        self._pbar = None
        self._has_default = default_weights_path().is_file()

        self.radio = ComboBox(label="Radio", choices=self._radio_choices, nullable=True)
        self.radio.tooltip = "Radio continuum image (Jy/beam) opened with this plugin's FITS reader"
        self.infrared = ComboBox(label="Infrared", choices=self._ir_choices, nullable=True)
        self.infrared.tooltip = "WISE W1-like image; reprojected onto the radio grid if needed"
        model_choices = [DEFAULT_MODEL, FILE_MODEL] if self._has_default else [FILE_MODEL]
        self.model = ComboBox(label="Model", choices=model_choices, value=model_choices[0])
        self.weights = FileEdit(label="Weights", filter="*.safetensors", mode="r")
        self.weights.tooltip = "NAME.safetensors written by radiogal train (NAME.json beside it)"
        self.model_info = Label(value="")
        self.device = ComboBox(label="Device", choices=["auto"], value="auto")
        self.device.tooltip = (
            "auto = CUDA, then Apple MPS, then CPU; only devices found here are listed"
        )
        self.runs_on = Label(value="Runs on: (checking devices…)")
        self._specs = [s for s in config_fields() if s["name"] != "device"]
        #: the option widgets by InferenceConfig field name
        self.option_widgets = {s["name"]: _option_widget(s) for s in self._specs}
        advanced = [w for name, w in self.option_widgets.items() if name not in EVERYDAY_OPTIONS]
        # scrolls within a bounded height: opened, it must not push the window off the screen
        self.advanced_form = Container(widgets=advanced, labels=True, scrollable=True)
        self.advanced_form.native.setMaximumHeight(ADVANCED_MAX_PX)
        self.advanced_toggle = toggle_button(value=False, label="")
        self.advanced_toggle.tooltip = (
            "Expert options: geometry, CAM, random walk, instances, hosts"
        )
        # the options the user changed: only these override the model card's recommendations
        self._edited: set[str] = set()
        self._filling = False
        for name, w in self.option_widgets.items():
            w.changed.connect(partial(self._on_edit, name))
        self.run_button = PushButton(text="Segment")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        buttons = Container(
            widgets=[self.run_button, self.cancel_button],
            layout="horizontal",
            labels=False,
            label="",
        )
        buttons.margins = (0, 0, 0, 0)
        self.restore_button = PushButton(text="Restore autosaved edits", visible=False)
        self.status = Label(value="")
        click_button = click_toggle()
        super().__init__(
            widgets=[
                _narrow(self.radio),
                _narrow(self.infrared),
                _narrow(self.model),
                self.weights,
                self.model_info,
                _narrow(self.device),
                self.runs_on,
                *(self.option_widgets[name] for name in EVERYDAY_OPTIONS),
                self.advanced_toggle,
                self.advanced_form,
                buttons,
                self.restore_button,
                click_button,
                self.status,
            ],
            labels=True,
        )
        self._show_advanced(False)
        self.status.native.setWordWrap(True)
        self.model_info.native.setWordWrap(True)
        #: the "Click to segment" mode (:mod:`._click`), its button above the status line
        self.click = ClickSegmenter(self, click_button)
        install_shortcuts(napari_viewer)
        # parented to the widget: when the dock closes the relay dies with it, and a late
        # signal from a worker thread is dropped instead of reaching deleted widgets
        self._relay = _ProgressRelay(self.native)
        self._relay.progressed.connect(self._on_progress)
        self.model.changed.connect(self._on_model_choice)
        self.weights.changed.connect(self._on_weights_file)
        self.advanced_toggle.changed.connect(self._show_advanced)
        self.run_button.changed.connect(lambda *_: self.run())
        self.cancel_button.changed.connect(lambda *_: self.cancel())
        self.restore_button.changed.connect(lambda *_: self.restore())
        self.radio.changed.connect(self._on_radio_choice)
        self.infrared.changed.connect(self._on_radio_choice)
        self.device.changed.connect(lambda *_: self.show_runs_on())
        connect_while_alive(
            self.native,
            [
                (napari_viewer.layers.events.inserted, self._on_layers_changed),
                (napari_viewer.layers.events.removed, self._on_layers_changed),
            ],
        )
        self._on_model_choice()
        install_sky_status(napari_viewer)
        self._on_radio_choice()
        self._available: list[str] | None = None
        self._probe_devices()

    def _show_advanced(self, shown) -> None:
        """Open or collapse the Advanced group."""
        n = len(self.advanced_form)
        self.advanced_toggle.text = f"{'▾' if shown else '▸'} Advanced ({n} options)"
        # the scroll area itself (native), not only its content, or an empty frame stays
        self.advanced_form.native.setVisible(bool(shown))

    # ------------------------------------------------------------------ choices
    def _radio_choices(self, *_):
        return [(lay.name, lay) for lay in radio_layers(self.viewer)]

    def _ir_choices(self, *_):
        return [(lay.name, lay) for lay in infrared_layers(self.viewer)]

    def _on_layers_changed(self, event=None) -> None:
        self.reset_choices()

    def reset_choices(self, *_):
        super().reset_choices()
        radios = [c for c in self.radio.choices if c is not None]
        if self.radio.value is None and radios:
            self.radio.value = radios[0]
        if self.infrared.value is None and self.radio.value is not None:
            self.infrared.value = self._matching_ir(self.radio.value)
        self._on_radio_choice()

    def _matching_ir(self, radio_layer):
        irs = infrared_layers(self.viewer)
        path = radio_layer.metadata.get("path")
        for ir in irs:
            if path and ir.metadata.get("reprojected_onto") == path:
                return ir
        return irs[0] if irs else None

    def _on_radio_choice(self, *_):
        layer = self.radio.value
        path = None if layer is None else layer.metadata.get("path")
        self.restore_button.visible = existing_sidecar(path) is not None
        if self.model.value == DEFAULT_MODEL:
            self.model_info.value = self._bundled_choice_summary()

    def _bundled_choice_summary(self) -> str:
        """Which bundled model fits the chosen radio (and IR) layer, and why.

        Runs on the GUI thread at every layer choice, so the beam comes from the header or a
        survey preset only (measuring it from the noise takes seconds on a mosaic); the
        worker's own choice may still measure it.
        """
        from napari_radiogal.errors import RadiogalError
        from napari_radiogal.inference import choose_bundled_model

        layer = self.radio.value
        if layer is None:
            return self._card_summary(None)
        radio = layer.metadata.get("image")
        try:
            choice = choose_bundled_model(
                radio if radio is not None else full_resolution(layer),
                has_infrared=self.infrared.value is not None,
                measure=False,
            )
        except RadiogalError as exc:
            return str(exc)
        settings = _card_settings(choice.path)
        self.show_recommended(settings)
        return f"Fits this image: {choice.reason}" + _recommended(settings)

    def _on_model_choice(self, *_):
        self.weights.visible = self.model.value == FILE_MODEL
        if self.model.value == DEFAULT_MODEL:
            self.model_info.value = self._bundled_choice_summary()
        elif not self._has_default:
            self.model_info.value = (
                "No bundled default model in this installation yet: choose a weights file "
                "(NAME.safetensors from `radiogal train`)."
            )
        else:
            self._on_weights_file()

    def _on_weights_file(self, *_):
        if self.model.value == FILE_MODEL and self._weights_path() is not None:
            self.model_info.value, settings = self._describe_card(self._weights_path())
            self.show_recommended(settings)

    def use_weights(self, path: str | Path) -> None:
        """Segment with a weights file from now on (e.g. a run of the Fine-tune dock).

        Parameters
        ----------
        path : str or Path
            ``NAME.safetensors`` with its ``NAME.json`` card beside it; the model line shows
            the card's summary (or why it cannot be read).
        """
        self.model.value = FILE_MODEL
        self.weights.value = Path(path)
        self.model_info.value = self._card_summary(Path(path))

    def _weights_path(self) -> Path | None:
        value = self.weights.value
        if value is None or str(value) in ("", "."):
            return None
        return Path(value)

    @classmethod
    def _card_summary(cls, path: Path | None) -> str:
        return cls._describe_card(path)[0]

    @staticmethod
    def _describe_card(path: Path | None) -> tuple[str, dict[str, Any]]:
        """The model line for a weights file and its card's recommended settings (one read)."""
        from napari_radiogal.errors import WeightsError
        from napari_radiogal.models import default_weights_path, read_card

        try:
            card = read_card(path or default_weights_path())
        except WeightsError as exc:
            return str(exc), {}
        classes = ", ".join(card.classes.names)
        settings = dict(card.inference)
        summary = f"{card.name} ({card.architecture.backbone}; classes {classes})"
        return summary + _recommended(settings), settings

    # ------------------------------------------------------------------ devices
    def _probe_devices(self) -> None:
        """List the torch devices in a background thread (importing torch takes seconds).

        A plain daemon thread rather than a napari worker: it must not keep a closing
        viewer (or the interpreter) waiting, and its answer arrives through a Qt signal.
        """
        relay = self._relay

        def probe() -> None:
            try:
                prepare_torch_import()
                from napari_radiogal.inference.device import available_devices

                names = available_devices()
            except ImportError as exc:  # pragma: no cover - torch missing
                log.warning("no torch: %s", exc)
                names = ["cpu"]
            try:
                relay.devices.emit(names)
            except RuntimeError:  # the widget was closed meanwhile
                pass

        relay.devices.connect(self._on_devices)
        self._device_thread = threading.Thread(target=probe, name="radiogal-devices", daemon=True)
        self._device_thread.start()

    def _on_devices(self, names: list[str]) -> None:
        if _closed(self):
            return
        self._available = list(names)
        current = self.device.value
        self.device.choices = ["auto", *names]
        self.device.value = current if current in self.device.choices else "auto"
        self.show_runs_on()

    def show_runs_on(self, used: str | None = None) -> None:
        """Say on which device the next run goes (or, given ``used``, where the last one ran)."""
        if used is not None:
            self.runs_on.value = f"Runs on: {used} (last run)"
        elif self._available is None:
            self.runs_on.value = "Runs on: (checking devices…)"
        elif self.device.value == "auto":
            self.runs_on.value = f"Runs on: {self._available[0]} (auto)"
        else:
            self.runs_on.value = f"Runs on: {self.device.value}"

    # ------------------------------------------------------------------ config
    def config(self):
        """The :class:`InferenceConfig` of the form (``ConfigError`` if a value is invalid)."""
        from napari_radiogal.inference.config import InferenceConfig

        values: dict[str, Any] = {"device": self.device.value}
        for spec in self._specs:
            w = self.option_widgets[spec["name"]]
            value = w.value
            if isinstance(spec["default"], tuple):
                value = InferenceConfig.parse_float_list(value, spec["name"])
            values[spec["name"]] = value
        return InferenceConfig(**values)

    def _on_edit(self, name: str, *_) -> None:
        if not self._filling:
            self._edited.add(name)

    def show_recommended(self, card_settings: dict[str, Any]) -> None:
        """Fill the options the user has not changed with what the model's card recommends
        (``card_settings``; the library defaults for the rest), so that the form shows what
        the run will use."""
        self._filling = True
        try:
            for spec in self._specs:
                if spec["name"] in self._edited:
                    continue
                value = card_settings.get(spec["name"], spec["default"])
                if isinstance(value, tuple | list):
                    value = ", ".join(f"{v:g}" for v in value)
                self.option_widgets[spec["name"]].value = value
        finally:
            self._filling = False

    def settings(self) -> dict[str, Any]:
        """The device and the options changed in the form: what the run takes from the user,
        the model's card and the library defaults giving the rest (``ConfigError`` if a value
        is invalid)."""
        config = self.config()
        return {
            "device": config.device,
            **{name: getattr(config, name) for name in sorted(self._edited)},
        }

    def set_config(self, config) -> None:
        """Fill the form from an :class:`InferenceConfig` (every field then counts as set)."""
        for spec in self._specs:
            value = getattr(config, spec["name"])
            if isinstance(value, tuple):
                value = ", ".join(f"{v:g}" for v in value)
            self.option_widgets[spec["name"]].value = value
        if config.device in self.device.choices:
            self.device.value = config.device
        self._edited.update(spec["name"] for spec in self._specs)

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.worker is not None

    def run(self):
        """Start segmenting the chosen layers in a worker thread; returns the worker."""
        from napari.qt.threading import create_worker
        from napari.utils import cancelable_progress
        from napari.utils.notifications import show_error

        from napari_radiogal.errors import RadiogalError

        if self.running:
            show_error("A segmentation is already running; cancel it first.")
            return None
        radio_layer, ir_layer = self.radio.value, self.infrared.value
        if radio_layer is None:
            show_error("Open a radio FITS image first (File > Open, or File > Open Sample).")
            return None
        try:
            model_path = self.chosen_model()
            settings = self.settings()
        except RadiogalError as exc:
            show_error(str(exc))
            return None
        self.job = Job.for_layers(radio_layer, ir_layer)
        radio, infrared = self._inputs(radio_layer, ir_layer)
        snapshot = radio_snapshot(radio_layer, ir_layer)
        self._cancel = threading.Event()
        self._pbar = cancelable_progress(
            total=0, desc=f"Segmenting {radio_layer.name}", cancel_callback=self._cancel.set
        )
        pbar = self._pbar

        def is_cancelled() -> bool:
            return self._cancel.is_set() or pbar.is_canceled

        worker = create_worker(
            _segment_in_thread,
            radio,
            infrared,
            model_path,
            settings,
            self._relay.progressed.emit,
            is_cancelled,
            snapshot,
            ir_layer is not None and not _has_contours(self.viewer, snapshot.radio_key),
            _start_thread=False,
            # our own errored handler: errors (and cancellation) become notifications,
            # not exceptions re-raised in the event loop
            _connect={
                "returned": partial(self._on_returned, self.job),
                "errored": self.report_error,
                "finished": self._on_finished,
                "warned": self.report_warning,
            },
        )
        self.worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.status.value = f"Segmenting {radio_layer.name}…"
        worker.start()
        return worker

    def chosen_model(self) -> Path | None:
        """The weights file chosen in the form, ``None`` for the bundled model that fits.

        Raises
        ------
        WeightsError
            "Weights file…" is chosen but names no file.
        """
        from napari_radiogal.errors import WeightsError

        if self.model.value != FILE_MODEL:
            return None
        path = self._weights_path()
        if path is None or not path.is_file():
            raise WeightsError(
                "Choose a weights file (NAME.safetensors) for the model"
                + ("" if self._has_default else ": no default model is bundled yet.")
            )
        return path

    @staticmethod
    def _inputs(radio_layer, ir_layer):
        """Copies of the layers' data with their WCS (the worker never touches layers)."""
        return layer_input(radio_layer), layer_input(ir_layer)

    def cancel(self) -> None:
        """Ask the running segmentation to stop (it stops at the next stage)."""
        self._cancel.set()
        if self._pbar is not None:
            self._pbar.cancel()
        self.status.value = "Cancelling…"

    def _on_progress(self, done: int, total: int) -> None:
        if _closed(self):
            return
        pbar = self._pbar
        if pbar is None:
            return
        if pbar.total != total:
            pbar.total = total
        pbar.update(max(done - pbar.n, 0))
        pbar.set_description(f"Segmenting ({done}/{total})")

    def _on_returned(self, job: Job, result) -> None:
        if _closed(self):
            return
        prediction, device, seconds, prepared = result
        self.show_runs_on(device)
        self.deliver(job, prediction, seconds=seconds, prepared=prepared)

    def deliver(self, job: Job, prediction, *, seconds: float | None = None, prepared=None):
        """Apply a result to the viewer, unless the job's layers changed meanwhile.

        This is the one path by which predictions reach the viewer (tests inject results
        here). ``prediction`` is a :class:`~napari_radiogal.inference.Prediction` or a
        :class:`~napari_radiogal.annotations.CocoDataset`.

        Returns
        -------
        AnnotationSession or None
            ``None`` when the result was dropped.
        """
        from napari.utils.notifications import show_info, show_warning

        reason = job.stale_reason(self.viewer)
        if reason is not None:
            show_warning(f"Segmentation result dropped: {reason}. Run it again.")
            self.status.value = f"Result dropped: {reason}."
            return None
        self.last_timings = dict(getattr(prediction, "timings", {}) or {})
        dataset = info = None
        if prepared is None:
            dataset = prediction.to_dataset() if hasattr(prediction, "to_dataset") else prediction
            info = getattr(prediction, "provenance", None) or dataset.info
        session = add_annotations(
            self.viewer, dataset, job.radio_layer, job.ir_layer, info=info, prepared=prepared
        )
        self.last_result = session
        self.last_seconds = seconds if seconds is not None else time.perf_counter() - job.started
        n = len(session.instance_ids())
        msg = f"{n} radio galax{'y' if n == 1 else 'ies'} in {self.last_seconds:.1f} s"
        self.status.value = msg + ". Correct them in 'Radio galaxy instances'."
        show_info(f"{job.radio_layer.name}: {msg}")
        return session

    def report_error(self, exc: BaseException) -> None:
        """Show a worker's error (or cancellation) in the status line and as a notification."""
        if _closed(self):
            return
        from napari.utils.notifications import show_error, show_info

        from napari_radiogal.errors import InferenceCancelled, RadiogalError

        if isinstance(exc, InferenceCancelled):
            self.status.value = "Cancelled."
            show_info("Segmentation cancelled.")
        elif isinstance(exc, RadiogalError):
            self.status.value = f"Failed: {exc}"
            show_error(str(exc))
        else:
            self.status.value = f"Failed: {type(exc).__name__}: {exc}"
            show_error(f"Segmentation failed: {type(exc).__name__}: {exc}")
            log.error("segmentation failed", exc_info=exc)

    def report_warning(self, warning_args) -> None:
        """A warning raised in the worker (e.g. no IR overlap) becomes a notification."""
        if _closed(self):
            return
        from napari.utils.notifications import show_warning

        message = warning_args[0] if warning_args else "warning"
        show_warning(f"{getattr(type(message), '__name__', 'Warning')}: {message}")

    def _on_finished(self) -> None:
        if self._pbar is not None:
            self._pbar.close()  # napari's activity dock, not ours: close it in any case
        self._pbar = None
        self.worker = None
        if _closed(self):
            return
        self.run_button.enabled = True
        self.cancel_button.enabled = False

    # ------------------------------------------------------------------ restore
    def restore(self):
        """Restore the autosaved edits of the chosen radio layer."""
        layer = self.radio.value
        if layer is None or not layer.metadata.get("path"):
            return None
        return restore_sidecar(self.viewer, layer.metadata["path"])
