"""The `epymarl-sn` command: each subcommand lives in its own module, which
provides `add_parser(subparsers)` setting `func(args) -> exit code`, and raises an
EpymarlSnError for what it cannot do. Exit codes, in this one place: 0 done; 1 a
failure (a set-up step, a run, a file that cannot be written, doctor's missing
items); 2 bad input (`UsageError`: a flag, a spec, a filter, a store); 130 Ctrl-C."""

import argparse
import os
import sys
from typing import Optional

from epymarl_sn.cli import board, doctor, plot, resume, runs, setup, sweep
from epymarl_sn.errors import EpymarlSnError

COMMANDS = (setup, doctor, runs, resume, sweep, plot, board)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="epymarl-sn",
        description="Spectral normalisation for MAPPO's critic, sparse-reward SMAC and "
        "run tracking, as an EPyMARL plugin.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    # KEY=VALUE filters after an option (`runs push --to URL seed=1`): argparse leaves
    # them over, having taken the first positional words already
    if (
        rest
        and isinstance(getattr(args, "filters", None), list)
        and not any(r.startswith("-") for r in rest)
    ):
        args.filters += rest
    elif rest:
        parser.parse_args(argv)  # says what it does not know, and exits with status 2
    try:
        return args.func(args)
    except EpymarlSnError as err:
        print(f"epymarl-sn {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # the reader of a listing stopped early (`... | head`): not an error of ours;
        # stdout goes to devnull so that Python's exit flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
