"""The README's checkable claims, checked: what a reader pastes does what it says, and
every number it takes from another page is that page's number (or follows from it by
the arithmetic the README shows)."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text()
FIG2 = (ROOT / "docs" / "rware_fig2.md").read_text()
SMAC = (ROOT / "docs" / "smac_fig3.md").read_text()
EP500 = (ROOT / "docs" / "rware_ep500.md").read_text()

T_MAX = 40_050_000  # the authors' t_max, which the presets and the cost section use
TESTS = (100, 100_000)  # the presets' test_nepisode, test_interval
RUNS_PER_TASK = 16  # 4 variants x 4 seeds


def section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else None]


def code_blocks(text):
    """The indented code blocks of a markdown text, each as its list of lines."""
    blocks, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("    ") and line.strip():
            block.append(line[4:])
        elif block:
            blocks.append(block)
            block = []
    return blocks


def table(text, first_cell):
    """{first cell: [other cells]} of the markdown table whose rows start with a cell
    in `first_cell` (a regex)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows[cells[0]] = cells[1:]
    return rows


def number(cell):
    """The first number in a cell: `about 7,900` -> 7900.0."""
    return float(re.search(r"\d[\d,]*(\.\d+)?", cell).group(0).replace(",", ""))


def test_each_pytorch_choice_is_its_own_block_the_cpu_one_first():
    quick = section(README, "## Quick start")
    blocks = [b for b in code_blocks(quick) if any("EPYMARL_SN_TORCH=" in line for line in b)]
    # pasted as one block, the second export would win: one choice per block
    assert [len(b) for b in blocks] == [1, 1], blocks
    (cpu,), (default,) = blocks
    assert cpu.startswith("export EPYMARL_SN_TORCH=") and "download.pytorch.org/whl/cpu" in cpu
    assert default == "export EPYMARL_SN_TORCH=torch"


def test_the_quick_start_sets_a_seed():
    (command,) = [
        line
        for b in code_blocks(section(README, "## Quick start"))
        for line in b
        if "main.py" in line
    ]
    assert re.search(r"\bseed=\d+\b", command)


def test_the_test_command_and_its_debian_packages_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    tests = section(README, "### The tests")
    (command,) = [line for b in code_blocks(tests) for line in b if "pytest" in line]
    assert command in ci
    packages = set(re.findall(r"missing\+=\(([\w-]+)\)", ci))
    assert packages == {"chromium", "nodejs", "npm", "slurm-wlm", "munge"}
    assert all(f"`{p}`" in tests for p in packages)


def test_the_quick_starts_times_are_the_measured_ones():
    quick = section(README, "## Quick start")
    main = section(BENCHMARKS, "## The main command, start to finish")
    for seconds in re.findall(r"(\d+) s\b", quick):
        assert f"{seconds} s" in main or f"| {seconds} |" in main, seconds


# (store in docs/data, its runs' directories, the README's words, page, the page's words)
RUN_COUNTS = [
    ("rware_fig2", "*tiny-2ag*", None, "FIG2", "tiny-2ag {} of 8 runs"),
    ("rware_fig2", "*tiny-4ag*", "tiny-4ag {} of 8 runs", "FIG2", "tiny-4ag {} of 8 runs"),
    ("rware_fig2", "*small-2ag*", "small-2ag {} of 8 runs", "FIG2", "small-2ag {} of 8 runs"),
    ("rware_ep500", "*", "500-step episodes {} of 8 runs", "EP500", "{} of 8 runs"),
    ("smac_fig3", "*", "{} of 12 comparison runs", "SMAC", "{} of the comparison's 12 runs"),
    ("smac_fig3_2s3z", "*", "2s3z {} of 12 runs", "SMAC", "2s3z: {} of 12 runs"),
    ("smac_fig3_corridor", "*", "corridor {} of 8 runs", "SMAC", "corridor: {} of 8 runs"),
]


def test_the_results_are_the_results_pages():
    results = section(README, "## Results so far")
    # each difference and its interval, as the Fig. 2 or the SMAC page has them on a line
    claims = re.findall(r"([+-]\d+\.\d+M?)[^\[\n]*(\[[^\]]+\])", results.replace("\n", " "))
    assert len(claims) == 11
    for value, interval in claims:
        line = rf"{re.escape(value)}\D[^\n]*{re.escape(interval)}"
        assert re.search(line, FIG2) or re.search(line, SMAC), value
    # the run counts, as the committed data has them
    results = " ".join(results.split())
    pages = {
        name: " ".join(page.split())
        for name, page in [("FIG2", FIG2), ("SMAC", SMAC), ("EP500", EP500)]
    }
    for store, runs_glob, readme_words, page, page_words in RUN_COUNTS:
        runs = len(list((ROOT / "docs" / "data" / store).glob(f"{runs_glob}/metrics.json")))
        if readme_words:
            assert readme_words.format(runs) in results
        assert page_words.format(runs) in pages[page]


@pytest.mark.parametrize(
    "script, args, table",
    [
        ("calibration_table.py", ["docs/data/smac_calibration"], "smac_calibration/calibration.md"),
        ("peak_table.py", ["docs/data/smac_fig3", "critic_grad_norm"], "smac_fig3/fig5_peak.md"),
        (
            "peak_table.py",
            ["docs/data/smac_fig3_2s3z", "critic_grad_norm"],
            "smac_fig3_2s3z/fig5_peak.md",
        ),
        (
            "peak_table.py",
            ["docs/data/smac_fig3_corridor", "critic_grad_norm", "--after", "0.1"],
            "smac_fig3_corridor/fig5_peak.md",
        ),
    ],
)
def test_the_smac_tables_are_their_scripts_output_on_the_committed_data(script, args, table):
    made = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert made == (ROOT / "docs" / table).read_text()


@pytest.mark.parametrize("store", ["rware_fig2", "rware_ep500"])
def test_the_fig2_tables_are_the_specs_plot_commands_on_the_committed_data(store, tmp_path):
    # every text table the page reads, rewritten from docs/data alone, byte for byte
    commands = [
        line.split("epymarl-sn ", 1)[1]
        for line in spec_comments()[f"docs/data/{store}"]
        if line.startswith("epymarl-sn plot ")
    ]
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command.replace(f"--out docs/{store}", f"--out {tmp_path}"))
        subprocess.run([sys.executable, "-m", "epymarl_sn", *argv], cwd=ROOT, check=True)
    made = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".csv", ".md"))
    committed = sorted(
        p.name for p in (ROOT / "docs" / store).iterdir() if p.suffix in (".csv", ".md")
    )
    assert made == committed
    # a plain bool: pytest's diff of two long tables takes minutes
    differ = [
        n for n in made if (tmp_path / n).read_bytes() != (ROOT / "docs" / store / n).read_bytes()
    ]
    assert not differ, f"not the committed data's output: {differ}"


def spec_comments():
    """{data_dir: the comment lines of the sweep spec that writes it}."""
    specs = {}
    for path in (ROOT / "config" / "sweeps").glob("*.yaml"):
        text = path.read_text()
        data_dir = re.search(r"^data_dir: (\S+)", text, re.M)
        if data_dir:
            specs[data_dir.group(1)] = {
                line[1:].strip() for line in text.splitlines() if line.startswith("#")
            }
    return specs


def test_each_pages_commands_for_committed_data_are_its_specs():
    # a reader who regenerates from the spec's comment gets the page's files
    specs = spec_comments()
    found = 0
    for page in (ROOT / "docs").glob("*.md"):
        for block in code_blocks(page.read_text()):
            for line in block:
                store = re.search(r"(?:--store |benchmarks/\S+\.py )(docs/data/\S+)", line)
                if store:
                    found += 1
                    assert line in specs[store.group(1)], (page.name, line)
    assert found >= 7


def cpu_per_million_steps():
    """CPU seconds per 1M training env steps, as docs/benchmarks.md measured them: the
    presets' batched RWARE path and SMAClite on the vector runner; and RWARE on the
    vector runner, before the batched backend."""
    cpu = {f"RWARE {task}": None for task in ("tiny-2ag", "tiny-4ag", "small-2ag")}
    for line in BENCHMARKS.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].startswith("batched") and "fused" not in cells[1]:
            cpu[f"RWARE {cells[0]}"] = number(cells[3])
    assert None not in cpu.values()
    measured = table(section(BENCHMARKS, "## CPU per env step"), r"(RWARE|SMAClite) .*")
    vector = {task: number(cells[0]) for task, cells in measured.items()}
    cpu.update({task: s for task, s in vector.items() if task.startswith("SMAClite")})
    before = {task: s for task, s in vector.items() if task.startswith("RWARE")}
    return cpu, before


def episode_limit(task):
    if task.startswith("RWARE"):
        return 100  # the presets' and paper_rware's time_limit
    from smac.env.starcraft2.maps import smac_maps

    return smac_maps.get_smac_map_registry()[task.split()[1]]["limit"]


def core_hours(cpu_per_million, task, tests=True):
    hours = cpu_per_million * T_MAX / 1e6 / 3600
    episodes, interval = TESTS
    return hours * (1 + episodes * episode_limit(task) / interval) if tests else hours


def test_the_cost_tables_follow_from_the_measured_cpu_per_step():
    costs = section(README, "## What the paper's sweeps cost")
    assert "t_max * (1 + test_nepisode * L / test_interval)" in costs
    cpu, before = cpu_per_million_steps()
    rows = table(costs, r"(RWARE|SMAClite) .*")
    assert sorted(rows) == sorted(cpu)
    for task, (training, with_tests) in rows.items():
        assert float(training) == pytest.approx(core_hours(cpu[task], task, False), abs=0.6)
        assert float(with_tests) == pytest.approx(core_hours(cpu[task], task), abs=0.6)
    sweeps = table(costs, r"`paper_\w+`")
    for sweep, env in (("`paper_rware`", "RWARE"), ("`paper_smaclite`", "SMAClite")):
        per_run = [core_hours(s, t) for t, s in cpu.items() if t.startswith(env)]
        total = RUNS_PER_TASK * sum(per_run)
        hours, on_16, on_48 = (number(c) for c in sweeps[sweep])
        assert hours == pytest.approx(total, rel=0.02), sweep
        assert on_16 == pytest.approx(total / 16, rel=0.03), sweep
        # 48 runs on 48 cores: the longest run sets the time
        assert on_48 == pytest.approx(max(per_run), rel=0.06), sweep
    assert "not measured" in sweeps["`paper_sc2`"][0]
    # RWARE before the batched backend, with the same 100-step test episodes
    old = RUNS_PER_TASK * sum(core_hours(s, t) for t, s in before.items())
    (said,) = re.findall(r"about (\d+) core-hours by the same count", costs)
    assert float(said) == pytest.approx(old, rel=0.02)


def test_the_sweep_workers_advice_is_one_run_per_core():
    assert "fewer workers than cores" not in README
    assert "runs one run per core (`--workers`, default the number of cores)" in README
