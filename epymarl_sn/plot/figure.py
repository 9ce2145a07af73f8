"""Panels -> a matplotlib Figure: one axis per task, a line per group with its 95% CI
band, one legend for the figure. Built without pyplot, so nothing global is touched."""

import math
from collections.abc import Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from epymarl_sn.plot.panels import Panel


def draw(
    panels: Sequence[Panel], ylabel: str, title: str, log_scale: bool = False, ncols: int = 3
) -> Figure:
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(max(6.0, 4.2 * ncols), 3.4 * nrows + 1.2), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    labels = sorted({label for panel in panels for label in panel.curves})
    # a group keeps its colour in every panel, also where another group is missing
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}
    handles: dict[str, Line2D] = {}
    for ax, panel in zip(axes, panels):
        for label, curve in panel.curves.items():
            (line,) = ax.plot(panel.grid, curve.point, color=colours[label], label=label)
            ax.fill_between(
                panel.grid, curve.low, curve.high, color=colours[label], alpha=0.2, linewidth=0
            )
            handles.setdefault(label, line)
        ax.set_title(panel.task)
        ax.set_xlabel("env steps")
        ax.set_ylabel(ylabel)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.legend(
        [handles[label] for label in labels],
        labels,
        loc="outside lower center",
        ncol=min(len(labels), 4),
        frameon=False,
    )
    return fig
