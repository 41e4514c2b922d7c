"""The live preview: the camera's newest frame, scaled, with a box around each face.

One Tk image is updated in place (``PhotoImage.paste``), so a long-running screen does not create a
new image per frame."""

from __future__ import annotations

import tkinter as tk

import cv2
import numpy as np
from PIL import Image, ImageTk

from kiosk.door import Box

COLOURS = {"waiting": (255, 255, 255), "accepted": (46, 204, 113), "unknown": (243, 156, 18)}


class Preview:
    def __init__(self, master: tk.Misc, size: tuple[int, int], background: str = "#1a1a1a") -> None:
        self.size = size
        self.photo = ImageTk.PhotoImage("RGB", size)
        self.label = tk.Label(master, image=self.photo, bg=background, borderwidth=0, highlightthickness=0)
        self.shown_index = 0
        self.boxes_drawn = 0

    def show(self, rgb: np.ndarray, boxes: tuple[Box, ...], index: int) -> None:
        w, h = self.size
        fh, fw = rgb.shape[:2]
        scale = min(w / fw, h / fh)
        small = cv2.resize(rgb, (max(1, int(fw * scale)), max(1, int(fh * scale))), interpolation=cv2.INTER_AREA)
        canvas = np.full((h, w, 3), 26, dtype=np.uint8)
        y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
        canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        for box in boxes:
            x1, y1, x2, y2 = (int(v * scale) for v in box.box)
            cv2.rectangle(canvas, (x0 + x1, y0 + y1), (x0 + x2, y0 + y2), COLOURS.get(box.kind, (255, 255, 255)), 3)
        self.photo.paste(Image.fromarray(canvas))
        self.shown_index = index
        self.boxes_drawn = len(boxes)
