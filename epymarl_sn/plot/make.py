"""Stored runs -> a figure of a metric against env steps (the mean over seeds with
95% t-interval bands, or the IQM with stratified-bootstrap bands) and a
final-performance table, for any metric or as the paper's Figs. 2-5."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from epymarl_sn.errors import PlotError
from epymarl_sn.tracking.atomic import atomic_open, write_text
from epymarl_sn.tracking.store import Run, Store, open_store, parse_filters

if TYPE_CHECKING:
    # only for hints: matplotlib, scipy and rliable are imported when plotting (make_files)
    from matplotlib.figure import Figure

    from epymarl_sn.plot.claims import Difference, RunRow, Thresholds
    from epymarl_sn.plot.table import Row


@dataclass(frozen=True)
class Preset:
    metric: str
    ylabel: str
    title: str  # "{env}" becomes the runs' simulator (SMAClite, SMAC, RWARE)
    log_scale: bool = False
    # metrics the preset may plot instead of `metric` (--metric), with their y labels
    alternatives: dict[str, str] = field(default_factory=dict)


# --claim's secondary measure: how far along the way to its own final value a run is timed
DEFAULT_FRACTIONS = (0.5, 0.8)
# --claim's thresholds for a task without its own: fractions of its best final value,
# fixed before the tiny-4ag and small-2ag data (docs/rware_fig2.md)
DEFAULT_THRESHOLD_FRACTIONS = (0.25, 0.5)
# a final value: a run's mean over its task grid's last points (docs/rware_fig2.md)
DEFAULT_FINAL_POINTS = 10
AGGREGATE_NAMES = {"iqm": "IQM", "mean": "Mean"}
# the paper averages its seeds (Figs. 2-5); with 4 runs an IQM is the mean of the middle two
DEFAULT_AGGREGATE = "mean"

PRESETS = {
    # the authors' plots.py plots the training return, return_mean
    "fig2": Preset(
        "test_return_mean",
        "test return (test_return_mean, greedy)",
        "Fig. 2: {env}",
        alternatives={"return_mean": "training return (return_mean)"},
    ),
    "fig3": Preset("test_battle_won_mean", "test win rate", "Fig. 3: {env} (sparse reward)"),
    "fig4": Preset(
        "dead_enemies_mean",
        "dead enemies per episode",
        "Fig. 4: {env} (sparse reward)",
        alternatives={"test_dead_enemies_mean": "dead enemies per test episode (greedy)"},
    ),
    # the paper does not say which of the authors' two critic gradient norms Fig. 5 shows
    "fig5": Preset(
        "critic_grad_norm",
        "critic gradient norm (all parameters, before clipping)",
        "Fig. 5: {env}",
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


def select(location: str, filter_args: Sequence[str]) -> tuple[Store, list[Run]]:
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


def simulator(run: Run) -> str:
    """What a title calls the runs' environment: SMAClite, SMAC, RWARE, ..."""
    env = str(run.get("env", "?"))
    if env.startswith("smaclite"):
        return "SMAClite"
    if env.startswith("sc2"):
        return "SMAC"
    if env == "gymma":
        package = str(run.get("env_args.key") or "").partition(":")[0]
        return "RWARE" if package == "rware" else package or env
    return env


def heading(what: Preset, runs: Sequence[Run]) -> str:
    """The figure's first title line: the preset's title, then what is plotted."""
    if what.title == what.metric:
        return what.metric
    env = " and ".join(sorted({simulator(run) for run in runs}))
    return f"{what.title.format(env=env)}, {what.ylabel}"


def caption(aggregate: str, smooth: int, per_seed: bool) -> str:
    """The figure's second title line: how the curves were made."""
    band = "95% t-interval" if aggregate == "mean" else "95% stratified-bootstrap CI"
    parts = [f"{AGGREGATE_NAMES[aggregate]} over seeds, {band}"]
    if smooth > 1:
        parts.append(f"each run a rolling mean over {smooth} logged points")
    if per_seed:
        parts.append("thin lines: single runs")
    return "; ".join(parts)


@dataclass
class Claim:
    """--claim: the convergence and final-value tables (plot/claims.py)."""

    fractions: Sequence[float]
    baseline: Optional[str]
    thresholds: "Thresholds"


@dataclass
class Made:
    figure: "Figure"
    rows: "list[Row]"  # the final-performance table
    written: list[Path]  # the paths of the files
    without: list[Run]  # runs that did not log the metric, left out
    tasks: int  # panels drawn
    differences: "list[Difference]" = field(default_factory=list)  # with --claim
    # (run, first step whose value is NaN or infinite): drawn up to there
    diverged: "list[tuple[Run, float]]" = field(default_factory=list)
    run_rows: "list[RunRow]" = field(default_factory=list)  # with --claim


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
    smooth: int = 1,
    per_seed: bool = False,
    claim: Optional[Claim] = None,
    final_points: int = DEFAULT_FINAL_POINTS,
) -> Made:
    """Write OUT/STEM.png, .pdf, STEM_final.md and .csv; with `claim`, also
    STEM_claim.md, STEM_claim.csv (differences) and STEM_claim_runs.csv. The same
    runs and arguments write the same bytes.

    `reps` >= 1 bootstrap resamples per IQM band; `smooth` >= 1 logged points per
    rolling mean; `final_points` >= 1 grid points a final value averages."""
    # matplotlib, scipy and rliable take seconds to import: only plotting pays for them
    from epymarl_sn.plot import claims
    from epymarl_sn.plot.figure import draw
    from epymarl_sn.plot.panels import build_panels, group_series
    from epymarl_sn.plot.table import final_rows, markdown, write_csv

    grouped, without, diverged = group_series(runs, what.metric, group_by, smooth)
    panels = build_panels(grouped, aggregate, reps, seed)
    if claim is not None:  # a bad --baseline or --thresholds before any file
        for panel in panels:
            claims.baseline_of(panel, claim.baseline)
        claim.thresholds.check([panel.task for panel in panels])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw(
        panels,
        what.ylabel,
        f"{heading(what, runs)}\n{caption(aggregate, smooth, per_seed)}",
        what.log_scale,
        per_seed=per_seed,
        noun="run" if group_by == "seed" else "seed",
    )
    written = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in written:
        # no creation date in the PDF (PNG has none): the same data, the same bytes
        with atomic_open(path, "wb") as f:
            fig.savefig(
                f,
                dpi=dpi,
                format=path.suffix[1:],
                metadata={"CreationDate": None} if path.suffix == ".pdf" else {},
            )
    rows = final_rows(panels, final_points)
    write_text(out / f"{stem}_final.md", markdown(rows, what.metric, group_by))
    write_csv(rows, out / f"{stem}_final.csv")
    written += [out / f"{stem}_final.md", out / f"{stem}_final.csv"]
    made = Made(fig, rows, written, without, len(panels), diverged=diverged)
    if claim is not None:
        thresholds = {
            panel.task: claims.task_thresholds(panel, claim.thresholds, final_points)
            for panel in panels
        }
        made.run_rows = claims.run_rows(panels, thresholds, claim.fractions, final_points)
        made.differences = claims.differences(
            panels, made.run_rows, thresholds, claim.fractions, claim.baseline
        )
        paths = [out / f"{stem}_claim{end}" for end in (".md", ".csv", "_runs.csv")]
        write_text(
            paths[0],
            claims.markdown(
                made.differences,
                made.run_rows,
                thresholds,
                panels,
                what.metric,
                final_points,
                smooth,
            ),
        )
        claims.write_csvs(made.differences, made.run_rows, paths[1], paths[2])
        made.written += paths
    return made
