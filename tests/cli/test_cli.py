"""The `epymarl-sn` command line: bad input to each subcommand ends in one clear error
line and the documented exit code (2 bad input; 1 a set-up step that cannot be done),
with nothing on stdout and no traceback. The catalogue (test_catalogue.py) holds the
cases that need prepared stores and specs; these need nothing but the command."""

import re

import pytest

from epymarl_sn.cli import COMMANDS

from helpers import run_cli

SUBCOMMANDS = ("setup", "doctor", "runs", "resume", "sweep", "plot", "board")

# (id, arguments, exit code, regex of the error line); {tmp} is the test's tmp_path and
# {epymarl} the session's checkout
CASES = [
    ("no subcommand", (), 2, r"^epymarl-sn: error: the following arguments are required: command$"),
    ("unknown subcommand", ("nosuch",), 2, r"^epymarl-sn: error: .*invalid choice: 'nosuch'"),
    ("setup unknown flag", ("setup", "--nosuch"), 2, r"unrecognized arguments: --nosuch$"),
    (
        "setup into a file",
        ("setup", "{tmp}/a_file"),
        1,
        r"^epymarl-sn setup: error: .*a_file exists but is not an EPyMARL checkout",
    ),
    ("doctor unknown flag", ("doctor", "--nosuch"), 2, r"unrecognized arguments: --nosuch$"),
    (
        "doctor unknown env config",
        ("doctor", "{epymarl}", "--env-config", "nosuch"),
        2,
        r"^epymarl-sn doctor: error: unknown --env-config 'nosuch'\. Available: .*\bgymma\b",
    ),
    ("runs unknown flag", ("runs", "--nosuch"), 2, r"unrecognized arguments: --nosuch$"),
    (
        "runs show without an id",
        ("runs", "show"),
        2,
        r"^epymarl-sn runs: error: runs show takes one run id: epymarl-sn runs show ID",
    ),
    (
        "resume without a run",
        ("resume",),
        2,
        r"^epymarl-sn resume: error: the following arguments are required: RUN$",
    ),
    (
        "resume t-max 0",
        ("resume", "a/b/1", "--t-max", "0"),
        2,
        r"^epymarl-sn resume: error: argument --t-max: '0' is not a positive integer$",
    ),
    (
        "resume a run not in the store",
        ("resume", "a/b/1", "--store", "{tmp}"),
        2,
        r"^epymarl-sn resume: error: no run 'a/b/1' in .* \(0 runs there; `epymarl-sn runs` lists",
    ),
    (
        "sweep without a spec",
        ("sweep",),
        2,
        r"^epymarl-sn sweep: error: the following arguments are required: spec$",
    ),
    (
        "sweep workers 0",
        ("sweep", "{tmp}/spec.yaml", "--workers", "0"),
        2,
        r"^epymarl-sn sweep: error: --workers must be at least 1, got 0$",
    ),
    (
        "sweep negative retries",
        ("sweep", "{tmp}/spec.yaml", "--retries", "-1"),
        2,
        r"^epymarl-sn sweep: error: --retries must be 0 or more, got -1$",
    ),
    (
        "sweep timeout 0",
        ("sweep", "{tmp}/spec.yaml", "--timeout", "0"),
        2,
        r"^epymarl-sn sweep: error: --timeout must be a positive number of seconds, got 0$",
    ),
    (
        "plot without --out",
        ("plot", "--store", "{tmp}"),
        2,
        r"^epymarl-sn plot: error: the following arguments are required: --out$",
    ),
    (
        "plot reps 0",
        ("plot", "--store", "{tmp}", "--out", "{tmp}/out", "--reps", "0"),
        2,
        r"^epymarl-sn plot: error: --reps must be at least 1, got 0$",
    ),
    (
        "board port not a number",
        ("board", "--port", "abc"),
        2,
        r"^epymarl-sn board: error: argument --port: invalid int value: 'abc'$",
    ),
    (
        "board port out of range",
        ("board", "--port", "0"),
        2,
        r"^epymarl-sn board: error: --port 0 is not a TCP port \(1-65535\)$",
    ),
]


def test_every_subcommand_has_bad_input_cases():
    assert {command.__name__.rsplit(".", 1)[1] for command in COMMANDS} == set(SUBCOMMANDS)
    covered = {args[0] for _, args, _, _ in CASES if args}
    assert covered == {*SUBCOMMANDS, "nosuch"}


@pytest.mark.parametrize("args,code,line", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_error_line_and_its_exit_code(args, code, line, tmp_path, epymarl_dir):
    (tmp_path / "a_file").write_text("not a checkout\n")
    args = [a.format(tmp=tmp_path, epymarl=epymarl_dir) for a in args]
    proc = run_cli(*args, timeout=120)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.rstrip("\n").splitlines()[-1] == errors[0]
    assert re.search(line, errors[0]), errors[0]
    # the input left nothing behind: no checkout, no output folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.parametrize("sub", ("", *SUBCOMMANDS))
def test_help_of_every_subcommand(sub):
    proc = run_cli(*sub.split(), "--help", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: epymarl-sn {sub}".rstrip())
    assert proc.stderr == ""
