"""`epymarl-sn setup [DIR]`: EPyMARL, SMAC, SMAClite and their dependencies."""
from pathlib import Path

from . import packages
from .console import say
from .epymarl_checkout import ensure_checkout
from .rvo2_build import ensure_rvo2
from .upstreams import SMAC, SMACLITE, SetupError, cache_dir, source_tree


def _wheel(upstream, log):
    """A wheel of the upstream at its pinned commit, built once into the cache."""
    wheel_dir = cache_dir() / "wheels" / f"{upstream.name}-{upstream.commit[:12]}"
    wheels = sorted(wheel_dir.glob("*.whl"))
    if wheels:
        return wheels[0]
    tree = source_tree(upstream, log)
    log(f"building a wheel of {upstream.name} at {upstream.commit[:12]}")
    try:
        return packages.build_wheel(tree, wheel_dir)
    except SetupError as err:
        raise SetupError(f"cannot build {upstream.name} from {tree}: {err}") from None


def ensure_pinned_package(upstream, dist_name, log=print):
    """Install the upstream from its pinned commit unless it already is.

    Its dependencies are the plugin's own requirements, hence --no-deps.
    """
    wheel = _wheel(upstream, log)
    if packages.installed_url(dist_name) == wheel.as_uri():
        return False
    packages.pip_install("--no-deps", "--force-reinstall", str(wheel), log=log)
    return True


def check_no_smac3():
    if packages.smac_flavour() == "smac3":
        raise SetupError(
            "PyPI's `smac` (SMAC3, a hyper-parameter optimiser) is installed and owns the "
            "`smac` module that StarCraft's SMAC needs; run `pip uninstall smac` "
            "(or use a separate virtual environment) and run setup again"
        )


def setup(target="epymarl", log=print):
    """Everything a run needs; idempotent. Returns the EPyMARL checkout's path."""
    check_no_smac3()
    packages.ensure_requirements(log)
    ensure_pinned_package(SMAC, "smac", log)
    ensure_pinned_package(SMACLITE, "smaclite", log)
    ensure_rvo2(log)
    return ensure_checkout(Path(target), log)


def run_command(args):
    # progress goes to stderr so that `cd "$(epymarl-sn setup)"` works
    print(setup(args.dir, log=say))
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "setup",
        help="a patched EPyMARL checkout with SMAC, SMAClite and the rest installed "
        "(idempotent); prints the checkout's path last",
    )
    p.add_argument("dir", nargs="?", default="epymarl",
                   help="where the EPyMARL checkout goes (default: ./epymarl)")
    p.set_defaults(func=run_command)
