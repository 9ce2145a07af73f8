"""The `epymarl-sn` command."""
import argparse
import sys

from .upstreams import SetupError


def _log(msg):
    print(f"epymarl-sn: {msg}", file=sys.stderr, flush=True)


def cmd_setup(args):
    from .setup_command import setup

    # progress goes to stderr so that `cd "$(epymarl-sn setup)"` works
    print(setup(args.dir, log=_log))
    return 0


def cmd_doctor(args):
    from .doctor import diagnose, report

    try:
        checks = diagnose(args.dir, args.env_config)
    except ValueError as err:
        raise SetupError(str(err))
    print(report(checks))
    return 1 if any(c.needed and not c.ok for c in checks) else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="epymarl-sn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="a patched EPyMARL checkout with SMAC, SMAClite "
                       "and the rest installed (idempotent)")
    p.add_argument("dir", nargs="?", default="epymarl",
                   help="where the EPyMARL checkout goes (default: ./epymarl)")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("doctor", help="what is there and what is missing, with fixes")
    p.add_argument("dir", nargs="?", default="epymarl",
                   help="the EPyMARL checkout (default: ./epymarl)")
    p.add_argument("--env-config", help="the work you plan (e.g. sc2, gymma): exit "
                   "non-zero only if something it needs is missing")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SetupError as err:
        print(f"epymarl-sn {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
