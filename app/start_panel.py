"""The start panel: what a world starts from — image (file, drag and drop, or a demo scene), prompt, model (and the
GPU memory tier it loads in, an app setting, not part of the session), field of view or intrinsics, seed — and the
Start button.

It produces a :class:`~engine.generation.project.StartSettings` and nothing else: loading the model and starting the stream are the
worker's job, so the panel stays a plain form that tests can fill in. Input problems (an unreadable image, no image
yet) are reported through :attr:`StartPanel.error` with the engine's message; the panel keeps what it had.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.bundles import MEMORY_CHOICES
from engine.generation.project import StartSettings
from app.settings import AppSettings
from app.viewport import IMAGE_SUFFIXES, dropped_image, to_qimage
from engine.io.demos import Demo, list_demos, load_demo
from engine.errors import SanaWMInputError
from engine.generation.start_image import Framing, frame_image, frame_on, framed_intrinsics, load_image

FOV_DEFAULT, FOV_VERTICAL, FOV_EXPLICIT = 0, 1, 2
FRAME_CROP, FRAME_LETTERBOX = 0, 1
#: The embedded model's frame size: the aspect a crop is shown for until a model has loaded.
DEFAULT_TARGET = (320, 176)
#: Images whose aspect differs from the frame's by less than this share lose at most a sliver: no framing choice.
ASPECT_TOLERANCE = 0.02


def vertical_fov_intrinsics(vfov_deg: float, width: int, height: int) -> tuple[float, float, float, float]:
    """``fx, fy, cx, cy`` (square pixels, centred principal point) of a vertical field of view on a ``width`` x
    ``height`` image."""
    if not 0.0 < vfov_deg < 180.0:
        raise SanaWMInputError(f"field of view: expected degrees in (0, 180), found {vfov_deg}")
    f = 0.5 * height / math.tan(math.radians(vfov_deg) / 2)
    return f, f, width / 2, height / 2


def _spin(lo: float, hi: float, value: float, decimals: int = 1, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


class StartPanel(QWidget):
    """The form (see the module docstring). Signals: ``start_requested(StartSettings)``, ``image_changed()``,
    ``error(str)``, ``demo_selected(str)`` (the demo's name)."""

    start_requested = Signal(object)
    image_changed = Signal()
    demo_selected = Signal(str)
    #: "Use suggested path" was pressed: the demo's action string and its mapping version
    suggested_path_requested = Signal(str, str)
    error = Signal(str)

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app_settings = settings or AppSettings()
        self.setAcceptDrops(True)
        self.image: np.ndarray | None = None
        self.image_name = "image.png"
        self.demo: Demo | None = None
        self._suggested: tuple[str, str] | None = None
        self._demos = list_demos()

        self.demo_box = QComboBox()
        self.demo_box.addItem("(none)", "")
        for demo in self._demos:
            self.demo_box.addItem(demo.title, demo.name)
        self.demo_box.currentIndexChanged.connect(self._on_demo_index)
        self.action_label = QLabel("")
        self.action_label.setWordWrap(True)
        self.action_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_suggested_button = QPushButton("Use suggested path")
        self.use_suggested_button.setToolTip("Load the demo's suggested path into path mode (Edit > Undo takes it back)")
        self.use_suggested_button.setVisible(False)
        self.use_suggested_button.clicked.connect(self._use_suggested)

        self.preview = QLabel("No image.\nOpen one or drop it here.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(200, 112)
        self.preview.setStyleSheet("QLabel { border: 1px dashed #888; }")
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.choose_image)

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Prompt (used by text-conditioned models)")
        self.prompt.setFixedHeight(60)

        self.model_edit = QLineEdit(self.app_settings.model() or "")
        self.model_edit.setPlaceholderText("embedded default model")
        self.model_edit.setToolTip("A model folder (official SANA-WM layout or a trained bundle); empty = embedded")
        model_button = QPushButton("Folder…")
        model_button.clicked.connect(self.choose_model)
        embedded_button = QPushButton("Embedded")
        embedded_button.clicked.connect(lambda: self.model_edit.setText(""))
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(model_button)
        model_row.addWidget(embedded_button)

        self.memory_box = QComboBox()  # the GPU memory tier (sana-wm generate --memory); a setting of the app
        self.memory_box.addItems(list(MEMORY_CHOICES))
        self.memory_box.setCurrentText(self.app_settings.memory())
        self.memory_box.setToolTip("Which parts stay on the GPU: full (everything), balanced (text encoders and the "
                                   "refiner only while they run), low (also fp8 DiT weights and an offloaded "
                                   "refiner), auto (the most that fits; sana-wm plan shows the numbers). Applies "
                                   "when a model is loaded; no effect on the CPU.")  # fmt: skip
        self.memory_box.currentTextChanged.connect(self.app_settings.set_memory)

        self.fov_mode = QComboBox()
        self.fov_mode.addItems(["Model default", "Vertical FOV", "Explicit fx fy cx cy"])
        self.vfov = _spin(5.0, 170.0, 60.0, 1, "°")
        self.fx, self.fy = _spin(1, 1e5, 500.0, 2), _spin(1, 1e5, 500.0, 2)
        self.cx, self.cy = _spin(-1e5, 1e5, 320.0, 2), _spin(-1e5, 1e5, 176.0, 2)
        self.fov_stack = QStackedWidget()
        self.fov_stack.addWidget(QLabel("the model's own field of view"))
        self.fov_stack.addWidget(self.vfov)
        explicit = QWidget()
        row = QHBoxLayout(explicit)
        row.setContentsMargins(0, 0, 0, 0)
        for box, tip in ((self.fx, "fx"), (self.fy, "fy"), (self.cx, "cx"), (self.cy, "cy")):
            box.setToolTip(f"{tip} in pixels of the opened image")
            row.addWidget(box)
        self.fov_stack.addWidget(explicit)
        self.fov_mode.currentIndexChanged.connect(self.fov_stack.setCurrentIndex)

        self.target_size = DEFAULT_TARGET
        self.framing_mode = QComboBox()
        self.framing_mode.addItems(["Crop", "Letterbox (whole picture)"])
        self.framing_mode.setToolTip("The model's frames have another aspect than this picture: crop it (move the "
                                     "crop with the slider) or keep it whole on black bars")  # fmt: skip
        self.crop_position = QSlider(Qt.Orientation.Horizontal)
        self.crop_position.setRange(0, 100)
        self.crop_position.setValue(50)
        self.crop_position.setToolTip("Where the crop sits: left / top at 0, centred at 50 (the official crop)")
        self.framing_row = QWidget()
        frame_row = QHBoxLayout(self.framing_row)
        frame_row.setContentsMargins(0, 0, 0, 0)
        frame_row.addWidget(self.framing_mode)
        frame_row.addWidget(self.crop_position, 1)
        self.framing_mode.currentIndexChanged.connect(self._show_framing)
        self.crop_position.valueChanged.connect(self._show_framing)

        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(42)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.request_start)
        self.start_button.setEnabled(False)
        self.start_button.setToolTip("Open an image, drop one here, or pick a demo scene first")

        form = QFormLayout()
        form.addRow("Demo scene", self.demo_box)
        form.addRow("", self.action_label)
        form.addRow("", self.use_suggested_button)
        form.addRow("Prompt", self.prompt)
        form.addRow("Model", model_row)
        form.addRow("GPU memory", self.memory_box)
        form.addRow("Camera", self.fov_mode)
        form.addRow("", self.fov_stack)
        form.addRow("Framing", self.framing_row)
        self.framing_label = form.labelForField(self.framing_row)
        form.addRow("Seed", self.seed)
        layout = QVBoxLayout(self)
        layout.addWidget(self.preview)
        layout.addWidget(self.open_button)
        layout.addLayout(form)
        layout.addWidget(self.start_button)
        layout.addStretch(1)
        self._show_framing()

    # ----- image ----------------------------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | str | Path, name: str | None = None) -> bool:
        """Use an image (a path or an RGB array); False (and an ``error`` signal) when it cannot be read.

        The camera settings belong to the image: a new one goes back to the model's default field of view and a
        centred principal point (a demo's or a session's own intrinsics are applied after this), so a focal length
        typed for the previous picture never silently zooms the next."""
        try:
            array = load_image(image, name="image")
        except SanaWMInputError as exc:
            self.error.emit(str(exc))
            return False
        if isinstance(image, (str, Path)):
            name = name or Path(image).name
            self.app_settings.set_last_folder("image", image)
        self.image, self.image_name = array, name or "image.png"
        self.demo = None
        self._show_suggested(None)
        h, w = array.shape[:2]
        self.fov_mode.setCurrentIndex(FOV_DEFAULT)
        f = vertical_fov_intrinsics(self.vfov.value(), w, h)[0]
        for box, value in ((self.fx, f), (self.fy, f), (self.cx, w / 2), (self.cy, h / 2)):
            box.setValue(value)
        self.start_button.setEnabled(True)
        self.start_button.setToolTip("")
        self.framing_mode.blockSignals(True)
        self.crop_position.blockSignals(True)
        self.framing_mode.setCurrentIndex(FRAME_CROP)
        self.crop_position.setValue(50)  # a new picture starts with the official centre crop
        self.framing_mode.blockSignals(False)
        self.crop_position.blockSignals(False)
        self._show_framing()
        self.image_changed.emit()
        return True

    # ----- framing --------------------------------------------------------------------------------------------------
    def set_target_size(self, size: tuple[int, int]) -> None:
        """The loaded model's frame size ``(W, H)``: the aspect the picture is framed for."""
        self.target_size = (int(size[0]), int(size[1]))
        self._show_framing()

    @property
    def needs_framing(self) -> bool:
        """The picture's aspect differs from the frame's enough for the crop to matter (see ASPECT_TOLERANCE)."""
        if self.image is None:
            return False
        h, w = self.image.shape[:2]
        tw, th = self.target_size
        return abs((w / h) / (tw / th) - 1.0) > ASPECT_TOLERANCE

    def framing(self) -> Framing:
        """Where the model's frame lies on the picture: the official centre crop unless the user moved the crop or
        chose a letterbox (only offered when :attr:`needs_framing`)."""
        if self.image is None:
            raise SanaWMInputError("framing: open an image first")
        h, w = self.image.shape[:2]
        if not self.needs_framing:
            return frame_on((w, h), self.target_size)
        return frame_on((w, h), self.target_size, position=self.crop_position.value() / 100,
                        letterbox=self.framing_mode.currentIndex() == FRAME_LETTERBOX)  # fmt: skip

    def _show_framing(self) -> None:
        """The preview shows the picture with the frame's rectangle on it (a letterbox: the framed picture)."""
        shown = self.needs_framing
        self.framing_row.setVisible(shown)
        if self.framing_label is not None:
            self.framing_label.setVisible(shown)
        self.crop_position.setEnabled(self.framing_mode.currentIndex() == FRAME_CROP)
        if self.image is None:
            return
        framing = self.framing()
        picture = frame_image(self.image, framing) if framing.letterboxed else self.image
        pix = QPixmap.fromImage(to_qimage(picture)).scaled(
            self.preview.width(), self.preview.height(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)  # fmt: skip
        if shown and not framing.letterboxed:
            scale = pix.width() / self.image.shape[1]
            left, top, bw, bh = framing.box
            painter = QPainter(pix)
            painter.fillRect(0, 0, pix.width(), pix.height(), QColor(0, 0, 0, 110))  # dim what is cut...
            painter.drawPixmap(round(left * scale), round(top * scale),
                               QPixmap.fromImage(to_qimage(self.image[top : top + bh, left : left + bw])).scaled(
                                   round(bw * scale), round(bh * scale)))  # ...and keep the frame bright  # fmt: skip
            painter.setPen(QPen(QColor(255, 210, 0), 2))
            painter.drawRect(round(left * scale), round(top * scale), round(bw * scale) - 1, round(bh * scale) - 1)
            painter.end()
        self.preview.setPixmap(pix)
        h, w = self.image.shape[:2]
        tip = f"{self.image_name}: {w} x {h}"
        if shown:
            tip += " — letterboxed to the frame's aspect" if framing.letterboxed else " — the yellow box is the frame"
        self.preview.setToolTip(tip)

    def choose_image(self) -> None:
        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", self.app_settings.last_folder("image"), f"Images ({pattern});;All files (*)"
        )
        if path:
            self.demo_box.setCurrentIndex(0)
            self.set_image(path)

    def choose_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder", self.app_settings.last_folder("model"))
        if folder:
            self.app_settings.set_last_folder("model", folder)
            self.model_edit.setText(folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if dropped_image([u.toLocalFile() for u in event.mimeData().urls()]):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = dropped_image([u.toLocalFile() for u in event.mimeData().urls()])
        if path:
            event.acceptProposedAction()
            self.demo_box.setCurrentIndex(0)
            self.set_image(path)

    # ----- demos ----------------------------------------------------------------------------------------------------
    @property
    def demo_names(self) -> list[str]:
        return [d.name for d in self._demos]

    def select_demo(self, name: str) -> bool:
        """Fill the form from a demo scene (image, intrinsics, title, suggested action)."""
        try:
            demo = load_demo(name)
        except SanaWMInputError as exc:
            self.error.emit(str(exc))
            return False
        index = self.demo_box.findData(name)
        self.demo_box.blockSignals(True)
        self.demo_box.setCurrentIndex(max(index, 0))
        self.demo_box.blockSignals(False)
        return self._apply_demo(demo)

    def _on_demo_index(self, index: int) -> None:
        name = self.demo_box.itemData(index)
        if name:
            self.select_demo(name)
        else:
            self.demo = None
            self._show_suggested(None)

    def _apply_demo(self, demo: Demo) -> bool:
        if not self.set_image(demo.image_path, name=f"{demo.name}.png"):
            return False
        self.demo = demo
        fx, fy, cx, cy = (float(v) for v in demo.intrinsics)
        for box, value in ((self.fx, fx), (self.fy, fy), (self.cx, cx), (self.cy, cy)):
            box.setValue(value)
        self.fov_mode.setCurrentIndex(FOV_EXPLICIT)
        self._show_suggested(demo.action, demo.action_version)
        self.demo_selected.emit(demo.name)
        return True

    def _show_suggested(self, action: str | None, version: str = "v2") -> None:
        """The suggested path as text and as a button that applies it (hidden when there is none)."""
        self._suggested = None if not action else (action, version)
        self.action_label.setText(f"Suggested path: {action} ({version})" if action else "")
        self.use_suggested_button.setVisible(bool(action))

    def _use_suggested(self) -> None:
        if self._suggested is not None:
            self.suggested_path_requested.emit(*self._suggested)

    def _restore_demo(self, extras: dict) -> None:
        """A session started from a demo names it and its suggested path (``extras``): show both again, keeping the
        session's own image and intrinsics."""
        name = extras.get("demo")
        index = self.demo_box.findData(name) if isinstance(name, str) and name else -1
        if index <= 0:
            return
        try:
            self.demo = load_demo(name)
        except SanaWMInputError:  # the demo is no longer shipped: the session still opens, without the label
            return
        self.demo_box.blockSignals(True)
        self.demo_box.setCurrentIndex(index)
        self.demo_box.blockSignals(False)
        action = extras.get("suggested_action") or self.demo.action
        self._show_suggested(action, self.demo.action_version)

    # ----- result ---------------------------------------------------------------------------------------------------
    def intrinsics(self) -> tuple[float, float, float, float] | None:
        """``fx, fy, cx, cy`` in pixels of the opened image, or None for the model's default field of view."""
        mode = self.fov_mode.currentIndex()
        if mode == FOV_DEFAULT:
            return None
        if mode == FOV_VERTICAL:
            if self.image is None:
                raise SanaWMInputError("field of view: open an image first (the FOV is turned into pixels of it)")
            h, w = self.image.shape[:2]
            return vertical_fov_intrinsics(self.vfov.value(), w, h)
        return (self.fx.value(), self.fy.value(), self.cx.value(), self.cy.value())

    def start_settings(self) -> StartSettings:
        """The form as :class:`StartSettings`; a :class:`SanaWMInputError` when it is incomplete."""
        if self.image is None:
            raise SanaWMInputError("start: expected an image (open one, drop one, or pick a demo scene), found none")
        model = self.model_edit.text().strip() or None
        extras = {} if self.demo is None else {"demo": self.demo.name, "suggested_action": self.demo.action}
        framing = self.framing()
        intrinsics = self.intrinsics()
        if intrinsics is not None:  # pixels of the picture -> pixels of the framed picture
            intrinsics = tuple(float(v) for v in framed_intrinsics(intrinsics, framing))
        return StartSettings(
            image=frame_image(self.image, framing),
            image_name=self.image_name,
            prompt=self.prompt.toPlainText().strip(),
            model=model,
            intrinsics=intrinsics,
            seed=self.seed.value(),
            extras=extras,
        )

    def request_start(self) -> None:
        try:
            settings = self.start_settings()
        except SanaWMInputError as exc:
            self.error.emit(str(exc))
            return
        self.start_requested.emit(settings)

    def load_settings(self, settings: StartSettings) -> None:
        """Show existing settings (an opened session file)."""
        self.demo_box.blockSignals(True)
        self.demo_box.setCurrentIndex(0)
        self.demo_box.blockSignals(False)
        self.set_image(settings.image, name=settings.image_name)
        self._restore_demo(settings.extras or {})
        self.prompt.setPlainText(settings.prompt)
        self.model_edit.setText(settings.model or "")
        self.seed.setValue(settings.seed)
        if settings.intrinsics is None:
            self.fov_mode.setCurrentIndex(FOV_DEFAULT)
        else:
            for box, value in zip((self.fx, self.fy, self.cx, self.cy), settings.intrinsics):
                box.setValue(float(value))
            self.fov_mode.setCurrentIndex(FOV_EXPLICIT)
