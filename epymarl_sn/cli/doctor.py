"""`epymarl-sn doctor`: what is there, what is missing, and how to fix it."""

import argparse

from epymarl_sn.install.doctor import diagnose, report


def run_command(args: argparse.Namespace) -> int:
    checks = diagnose(args.dir, args.env_config)
    print(report(checks))
    return 1 if any(c.needed and not c.ok for c in checks) else 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("doctor", help="what is there and what is missing, with fixes")
    p.add_argument(
        "dir", nargs="?", default="epymarl", help="the EPyMARL checkout (default: ./epymarl)"
    )
    p.add_argument(
        "--env-config",
        help="the env config you plan to run (e.g. sc2, gymma): "
        "exit non-zero only if something it needs is missing",
    )
    p.set_defaults(func=run_command)
