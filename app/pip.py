"""Picture-in-picture: the generated frames in a corner of the path editor.

Why: "Generate along path" runs while path mode shows the 3D editor instead of the viewport, so the frames being
generated were invisible until the user switched modes. The inset repeats whatever the viewport shows (its live
frames, or a frame the take player shows), scaled into the host's bottom-right corner; it ignores the mouse, so the
editor underneath stays fully usable.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from app.viewport import letterbox


class PictureInPicture(QWidget):
    """A frame inset on ``host`` (see the module docstring); ``share`` is its width as a share of the host's."""

    MARGIN = 10

    def __init__(self, host: QWidget, share: float = 0.32) -> None:
        super().__init__(host)
        self.share = share
        self.image: QImage | None = None
        self.caption = ""
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        host.installEventFilter(self)
        self.hide()

    def set_image(self, image: QImage | None, caption: str = "") -> None:
        """Show ``image`` (None hides the inset)."""
        self.image, self.caption = image, caption
        self.setVisible(image is not None)
        if image is not None:
            self._place()
            self.raise_()
            self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize and self.image is not None:
            self._place()
        return False

    def _place(self) -> None:
        host = self.parentWidget().rect()
        w = max(120, int(host.width() * self.share))
        h = round(w * self.image.height() / max(1, self.image.width()))
        self.setGeometry(QRect(host.right() - w - self.MARGIN, host.bottom() - h - self.MARGIN, w, h))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if self.image is None:
            return
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(16, 16, 18))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(letterbox((self.image.width(), self.image.height()), self.rect()), self.image)
        if self.caption:
            painter.setPen(QColor(235, 235, 235))
            painter.drawText(self.rect().adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignTop, self.caption)
        painter.setPen(QPen(QColor(200, 200, 200), 1))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()
