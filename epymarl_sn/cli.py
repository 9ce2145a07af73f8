"""The `epymarl-sn` command: each subcommand lives in its own module, which
provides `add_parser(subparsers)` setting `func(args) -> exit code`."""
import argparse
import os
import sys

from . import doctor, plot_command, runs_command, setup_command, sweep_command
from .upstreams import SetupError

COMMANDS = (setup_command, doctor, runs_command, sweep_command, plot_command)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="epymarl-sn",
        description="Spectral normalisation for MAPPO's critic, sparse-reward SMAC and "
        "run tracking, as an EPyMARL plugin.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SetupError as err:
        print(f"epymarl-sn {args.command}: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader of a listing stopped early (`... | head`): not an error of ours;
        # stdout goes to devnull so that Python's exit flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
