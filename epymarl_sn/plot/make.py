"""Stored runs -> a figure of a metric against env steps (mean or IQM over seeds
with 95% stratified-bootstrap bands) and a final-performance table, for any metric
or as the paper's Figs. 2-5."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from epymarl_sn.errors import PlotError
from epymarl_sn.tracking.store import FileStore, MongoStore, Run, open_store, parse_filters

if TYPE_CHECKING:
    # only for hints: matplotlib, scipy and rliable are imported when plotting (make_files)
    from matplotlib.figure import Figure

    from epymarl_sn.plot.table import Row


@dataclass(frozen=True)
class Preset:
    metric: str
    ylabel: str
    title: str
    log_scale: bool = False
    # metrics the preset may plot instead of `metric` (--metric), with their y labels
    alternatives: dict[str, str] = field(default_factory=dict)


AGGREGATE_NAMES = {"iqm": "IQM", "mean": "Mean"}
# the paper averages its seeds (Figs. 2-5); with 4 runs an IQM is the mean of the middle two
DEFAULT_AGGREGATE = "mean"

PRESETS = {
    "fig2": Preset("test_return_mean", "test return", "Fig. 2: RWARE, test return"),
    "fig3": Preset(
        "test_battle_won_mean", "test win rate", "Fig. 3: SMAC (sparse reward), test battles won"
    ),
    "fig4": Preset(
        "dead_enemies_mean",
        "dead enemies per episode",
        "Fig. 4: SMAC (sparse reward), dead enemies",
    ),
    # the paper does not say which of the authors' two critic gradient norms Fig. 5 shows
    "fig5": Preset(
        "critic_grad_norm",
        "critic gradient norm (all parameters, before clipping)",
        "Fig. 5: critic gradient norm",
        log_scale=True,
        alternatives={
            "critic_grad_norm_clipped_weights": (
                "critic gradient norm (weights only, after clipping)"
            )
        },
    ),
}


def resolve(preset_name: Optional[str], metric: Optional[str], log: bool) -> Preset:
    """What to draw, from a preset name and/or a metric: a Preset."""
    if preset_name:
        preset = PRESETS[preset_name]
        if metric and metric != preset.metric:
            if metric not in preset.alternatives:
                others = "".join(f" (or --metric {m})" for m in preset.alternatives)
                raise PlotError(
                    f"--preset {preset_name} plots {preset.metric}{others}; drop "
                    f"--metric {metric} or --preset"
                )
            return Preset(
                metric, preset.alternatives[metric], preset.title, preset.log_scale or log
            )
        return Preset(preset.metric, preset.ylabel, preset.title, preset.log_scale or log)
    if not metric:
        raise PlotError("give --metric M (e.g. test_return_mean) or --preset " + "|".join(PRESETS))
    return Preset(metric, metric, metric, log)


def file_stem(preset_name: Optional[str], metric: str) -> str:
    """The files' name: the preset's (with the metric when it is not the preset's own),
    else the metric's."""
    if not preset_name:
        return metric
    return preset_name if metric == PRESETS[preset_name].metric else f"{preset_name}_{metric}"


def select(
    location: str, filter_args: Sequence[str]
) -> tuple[Union[FileStore, MongoStore], list[Run]]:
    """The runs to plot: those matching the filters, COMPLETED unless a status is given."""
    filters = parse_filters(filter_args)
    if not any(f.key == "status" for f in filters):
        # a run still going (or crashed) would cut every curve of its task short
        filters += parse_filters(["status=COMPLETED"])
    store = open_store(location)
    runs = store.runs(filters)
    if not runs:
        raise PlotError(
            f"no run in {store} matches {' '.join(f'{f.key}={f.text}' for f in filters)}"
        )
    return store, runs


@dataclass
class Made:
    figure: "Figure"
    rows: "list[Row]"  # the final-performance table
    written: list[Path]  # the paths of the files
    without: list[Run]  # runs that did not log the metric, left out
    tasks: int  # panels drawn


def make_files(
    runs: Sequence[Run],
    what: Preset,
    group_by: str,
    aggregate: str,
    reps: int,
    seed: int,
    out: Union[str, Path],
    stem: str,
    dpi: int,
) -> Made:
    """Write OUT/STEM.png, .pdf, STEM_final.md and .csv.

    `reps` >= 1 bootstrap resamples per CI."""
    # matplotlib, scipy and rliable take seconds to import: only plotting pays for them
    from epymarl_sn.plot.figure import draw
    from epymarl_sn.plot.panels import build_panels, group_series
    from epymarl_sn.plot.table import final_rows, markdown, write_csv

    grouped, without = group_series(runs, what.metric, group_by)
    panels = build_panels(grouped, aggregate, reps, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw(
        panels,
        what.ylabel,
        f"{what.title}\n{AGGREGATE_NAMES[aggregate]} over seeds, 95% stratified-bootstrap CI",
        what.log_scale,
    )
    written = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in written:
        fig.savefig(path, dpi=dpi)
    rows = final_rows(panels, reps, seed)
    (out / f"{stem}_final.md").write_text(markdown(rows, what.metric, group_by))
    write_csv(rows, out / f"{stem}_final.csv")
    written += [out / f"{stem}_final.md", out / f"{stem}_final.csv"]
    return Made(fig, rows, written, without, len(panels))
