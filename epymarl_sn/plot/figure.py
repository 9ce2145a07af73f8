"""Panels -> a matplotlib Figure: one axis per task, a line per group with its 95% CI
band (and, on request, each run as a thin line), one legend for the figure that says
how many seeds each line averages. Built without pyplot, so nothing global is touched.

Readable at a glance: each group has its own colour and line style, so lines that
coincide (every win rate 0) stay visible; a panel whose values are all equal gets a
y-range around them instead of matplotlib's +-0.05 sliver; log axes label their
ticks as plain numbers (6, 10, 0.02), not 6x10^0."""

import math
import textwrap
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import Formatter

from epymarl_sn.plot.panels import Curve, Panel

STYLES = ("-", "--", ":", "-.")
CHARS_PER_INCH = 11  # of the title's and the legend's font, to fit them to the figure


class PlainLogFormatter(Formatter):
    """Log-axis tick labels as plain numbers. Minor ticks are labelled only where the
    axis spans at most a decade (else the decades label it): all of them under 0.4
    decades, else those at 2x and 5x."""

    def __init__(self, minor: bool) -> None:
        self.minor = minor

    def __call__(self, x: float, pos: object = None) -> str:
        if x <= 0:
            return ""
        if self.minor and self.axis is not None:
            low, high = sorted(self.axis.get_view_interval())
            decades = math.log10(high / low) if low > 0 else math.inf
            mantissa = round(x / 10 ** math.floor(math.log10(x)), 6)
            if decades > 1 or (decades >= 0.4 and mantissa not in (2, 5)):
                return ""
        return f"{x:g}"


def seeds_note(curves: Sequence[Curve], noun: str) -> str:
    """How many runs a group's line averages, over the panels it appears in."""
    counts = sorted({c.runs for c in curves})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    note = f"{n} {noun}{'' if counts == [1] else 's'}"
    return note + ", no CI" if counts == [1] else note


def flat_range(ax: Axes, values: np.ndarray, log_scale: bool) -> None:
    """Give a panel whose values are all equal a y-range in which its lines show."""
    finite = values[np.isfinite(values)]
    if not len(finite) or finite.max() - finite.min() > 1e-12 * max(1.0, abs(finite.max())):
        return
    v = float(finite[0])
    if log_scale and v > 0:
        ax.set_ylim(v / 2, v * 2)
    elif v == 0:
        ax.set_ylim(-0.05, 1.0)  # e.g. every win rate 0: a rate's whole range
    else:
        ax.set_ylim(v - abs(v) / 2, v + abs(v) / 2)


def draw(
    panels: Sequence[Panel],
    ylabel: str,
    title: str,
    log_scale: bool = False,
    ncols: int = 3,
    per_seed: bool = False,
    noun: str = "seed",
) -> Figure:
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width = max(6.0, 4.2 * ncols)
    fig = Figure(figsize=(width, 3.4 * nrows + 1.2), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    labels = sorted({label for panel in panels for label in panel.curves})
    # a group keeps its colour and style in every panel, also where another is missing
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}
    styles = {label: STYLES[i % len(STYLES)] for i, label in enumerate(labels)}
    handles: dict[str, Line2D] = {}
    for ax, panel in zip(axes, panels):
        shown = []
        for label, curve in panel.curves.items():
            colour = colours[label]
            if per_seed:
                for values in curve.aligned:
                    ax.plot(panel.grid, values, color=colour, linewidth=0.6, alpha=0.45)
            (line,) = ax.plot(
                panel.grid, curve.point, color=colour, linestyle=styles[label], label=label
            )
            ax.fill_between(panel.grid, curve.low, curve.high, color=colour, alpha=0.2, linewidth=0)
            handles.setdefault(label, line)
            shown += [curve.point, curve.low, curve.high, *(curve.aligned if per_seed else ())]
        ax.set_title(panel.task)
        ax.set_xlabel("env steps")
        ax.set_ylabel(ylabel)
        if log_scale:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(PlainLogFormatter(minor=False))
            ax.yaxis.set_minor_formatter(PlainLogFormatter(minor=True))
        flat_range(ax, np.concatenate(shown), log_scale)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(
        "\n".join(textwrap.fill(line, int(width * CHARS_PER_INCH)) for line in title.split("\n"))
    )
    notes = {
        label: seeds_note([p.curves[label] for p in panels if label in p.curves], noun)
        for label in labels
    }
    texts = [f"{label} ({notes[label]})" for label in labels]
    fits = int(width * CHARS_PER_INCH) // (max(map(len, texts)) + 6)  # + the line sample
    fig.legend(
        [handles[label] for label in labels],
        texts,
        loc="outside lower center",
        ncol=max(1, min(len(labels), 4, fits)),
        frameon=False,
    )
    return fig
