"""`epymarl-sn setup [DIR]`: EPyMARL, SMAC, SMAClite and their dependencies."""

import argparse

from epymarl_sn.console import say
from epymarl_sn.install.bootstrap import setup


def run_command(args: argparse.Namespace) -> int:
    # progress goes to stderr so that `cd "$(epymarl-sn setup)"` works
    print(setup(args.dir, log=say))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "setup",
        help="a patched EPyMARL checkout with SMAC, SMAClite and the rest installed "
        "(idempotent); prints the checkout's path last",
    )
    p.add_argument(
        "dir",
        nargs="?",
        default="epymarl",
        help="where the EPyMARL checkout goes (default: ./epymarl)",
    )
    p.set_defaults(func=run_command)
