"""Report folders: a Markdown summary, its JSON, and PNG plots (ROC, score histograms, confusion
matrix, t-SNE, training curves).

Plots use matplotlib's object API on the Agg canvas (no pyplot, no display) at a fixed size, so a
figure's pixel size is known in advance and recorded in ``summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from models import metrics

DPI = 100
SIZE = (8.0, 5.5)  # inches: 800 x 550 pixels
# tab10, then tab20's lighter shades: 18 distinguishable colours for people in a t-SNE map
COLOURS: list[Any] = ([colormaps["tab10"](i) for i in range(10) if i != 7]
                      + [colormaps["tab20"](i) for i in range(1, 20, 2) if i != 15])  # no greys: grey is 'others'



class Report:
    """A folder with ``summary.md``, ``summary.json`` and the PNGs the summary links to."""

    def __init__(self, folder: Path, title: str) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lines = [f"# {title}", ""]
        self.figures: dict[str, list[int]] = {}

    def text(self, *paragraphs: str) -> None:
        for paragraph in paragraphs:
            self.lines += [paragraph, ""]

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---" for _ in header) + "|")
        self.lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
        self.lines.append("")

    def figure(self, name: str, figure: Figure, caption: str) -> Path:
        """Save ``figure`` as ``name`` (a .png in the folder) and show it in the summary."""
        path = self.folder / name
        FigureCanvasAgg(figure)
        figure.savefig(path, dpi=DPI)
        width, height = figure.get_size_inches() * DPI
        self.figures[name] = [round(width), round(height)]
        self.lines += [f"![{caption}]({name})", ""]
        return path

    def link(self, name: str, caption: str) -> None:
        self.lines += [f"- [{caption}]({name})", ""]

    def write(self, summary: dict[str, Any]) -> Path:
        """Write summary.md and summary.json (``summary`` plus the figures' pixel sizes)."""
        markdown = self.folder / "summary.md"
        markdown.write_text("\n".join(self.lines).rstrip() + "\n")
        (self.folder / "summary.json").write_text(
            json.dumps({**summary, "figures": self.figures}, indent=2, sort_keys=True, default=_plain) + "\n")
        return markdown


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def new_figure(columns: int = 1, size: tuple[float, float] = SIZE) -> tuple[Figure, list[Any]]:
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = [figure.add_subplot(1, columns, i + 1) for i in range(columns)]
    return figure, axes


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """ROC curves (TAR against FAR on a log axis) for named (genuine, impostor) score sets."""
    figure, (ax,) = new_figure()
    lowest = min([1.0 / max(len(impostor), 1) for _, impostor in curves.values()] + [1.0])
    for i, (label, (genuine, impostor)) in enumerate(curves.items()):
        far, tar, _ = metrics.roc(genuine, impostor)
        shown = np.maximum(far, lowest / 2)  # FAR 0 drawn at the left edge, below every set's resolution
        area = metrics.auc(genuine, impostor)
        ax.step(shown, tar, where="post", color=COLOURS[i % len(COLOURS)], label=f"{label} (AUC {area:.4f})")
    for target in metrics.FAR_TARGETS:
        ax.axvline(target, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(lowest / 2, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false accept rate (FAR); dotted: 1e-4, 1e-3, 1e-2")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return figure


def histogram_figure(sets: dict[str, tuple[np.ndarray, np.ndarray]], thresholds: dict[str, float],
                     title: str) -> Figure:
    """Genuine and impostor score histograms (one panel per named set) with threshold lines."""
    figure, axes = new_figure(len(sets))
    bins = np.linspace(-0.4, 1.0, 71)
    for ax, (label, (genuine, impostor)) in zip(axes, sets.items(), strict=True):
        ax.hist(impostor, bins=bins, density=True, alpha=0.6, color=COLOURS[1], label=f"impostor ({len(impostor)})")
        ax.hist(genuine, bins=bins, density=True, alpha=0.6, color=COLOURS[2], label=f"genuine ({len(genuine)})")
        for i, (name, value) in enumerate(thresholds.items()):
            ax.axvline(value, color=COLOURS[(i + 3) % len(COLOURS)], linestyle="--", linewidth=1,
                       label=f"{name} {value:.3f}")
        ax.set_xlabel("cosine score")
        ax.set_ylabel("density")
        ax.set_title(label if len(sets) > 1 else title, fontsize=10)
        ax.legend(fontsize=7)
    if len(sets) > 1:
        figure.suptitle(title)
    return figure


def confusion_figure(matrix: np.ndarray, rows: list[str], columns: list[str], title: str) -> Figure:
    """A count matrix: truth down the side, outcome across; counts written in cells when legible."""
    side = float(np.clip(0.22 * max(len(rows), len(columns)) + 3.0, 5.5, 14.0))
    figure, (ax,) = new_figure(size=(side * 1.15, side))
    shown = np.log1p(matrix.astype(np.float64))
    ax.imshow(shown, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=90 if len(columns) > 4 else 0, fontsize=_font(len(columns)))
    ax.set_yticks(range(len(rows)), rows, fontsize=_font(len(rows)))
    ax.set_xlabel("decision")
    ax.set_ylabel("truth")
    ax.set_title(title)
    if max(len(rows), len(columns)) <= 45:
        peak = shown.max() if shown.size else 0.0
        for (r, c), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if shown[r, c] > 0.6 * peak else "black"
                ax.text(c, r, str(count), ha="center", va="center", fontsize=_font(len(rows)) - 1, color=colour)
    return figure


def _font(n: int) -> int:
    return 10 if n <= 10 else 8 if n <= 30 else 6


def tsne_figure(panels: dict[str, tuple[np.ndarray, list[str | None]]], title: str, most: int = 18,
                points: int = 500) -> Figure:
    """t-SNE maps of embeddings, one panel per named set: the ``most`` most frequent labels in colour,
    everyone else (and unlabelled points, such as strangers) in grey. Sets larger than ``points``
    keep every coloured point and an even sample of the rest (t-SNE's cost grows with the points)."""
    from sklearn.manifold import TSNE  # slow to import; only reports need it

    figure, axes = new_figure(len(panels), size=(SIZE[0] * (1 if len(panels) == 1 else 1.4), SIZE[1]))
    for ax, (label, (vectors, labels)) in zip(axes, panels.items(), strict=True):
        counts: dict[str, int] = {}
        for name in labels:
            if name is not None:
                counts[name] = counts.get(name, 0) + 1
        coloured = [n for n, c in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if c > 1][:most]
        rest = np.array([name not in coloured for name in labels], dtype=bool)
        keep = np.flatnonzero(~rest)
        if len(labels) > points:
            others = np.flatnonzero(rest)
            spare = max(points - len(keep), 0)
            keep = np.sort(np.concatenate([keep, others[np.linspace(0, len(others) - 1, spare).astype(int)]
                                           if spare and len(others) else np.zeros(0, int)]))
        else:
            keep = np.arange(len(labels))
        if len(keep) < 5:
            ax.text(0.5, 0.5, "too few faces for t-SNE", ha="center", va="center")
            continue
        perplexity = float(min(30.0, (len(keep) - 1) / 3))
        mapped = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0,
                      max_iter=400, angle=0.7).fit_transform(vectors[keep])
        grey = rest[keep]
        if grey.any():
            ax.scatter(mapped[grey, 0], mapped[grey, 1], s=6, color="#c8c8c8",
                       label="others" + (f" (sample of {int(rest.sum())})" if len(keep) < len(labels) else ""))
        for i, name in enumerate(coloured):
            mine = np.array([labels[j] == name for j in keep])
            ax.scatter(mapped[mine, 0], mapped[mine, 1], s=14, color=COLOURS[i % len(COLOURS)], label=name)
        ax.set_title(label if len(panels) > 1 else title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=6, loc="best", markerscale=1.2)
    if len(panels) > 1:
        figure.suptitle(title)
    return figure


def curves_figure(x: Sequence[float], series: dict[str, Sequence[float]], xlabel: str, title: str,
                  log_y: bool = False, marks: dict[str, float] | None = None,
                  right: dict[str, Sequence[float]] | None = None) -> Figure:
    """Line plots of named series over ``x`` (training curves, FMR against threshold); ``right``
    series go on a second y axis (another scale)."""
    figure, (ax,) = new_figure()
    marker = "o" if len(x) <= 40 else None
    for i, (label, values) in enumerate(series.items()):
        ax.plot(list(x), list(values), marker=marker, markersize=3, color=COLOURS[i % len(COLOURS)], label=label)
    if right:
        twin = ax.twinx()
        for i, (label, values) in enumerate(right.items(), start=len(series)):
            twin.plot(list(x), list(values), marker=marker, markersize=3, linestyle="--",
                      color=COLOURS[i % len(COLOURS)], label=f"{label} (right axis)")
        twin.legend(fontsize=8, loc="center right")
    for i, (name, value) in enumerate((marks or {}).items()):
        ax.axvline(value, color=COLOURS[(i + 4) % len(COLOURS)], linestyle="--", linewidth=1, label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def percent(value: float | None, digits: int = 2) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value * 100:.{digits}f} %"
