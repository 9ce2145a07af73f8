"""`epymarl-sn setup`: pinned sources, overrides, the cache, idempotence."""

import importlib.metadata
import subprocess
import sys

import pytest

from epymarl_sn.envs.installed import smac_flavour
from epymarl_sn.errors import SetupError
from epymarl_sn.install import packages
from epymarl_sn.install.bootstrap import BATCHED, kernel_cache_hits, setup
from epymarl_sn.install.checkout import ensure_checkout, head_commit, patch_state
from epymarl_sn.install.upstreams import ALL, EPYMARL, SMAC, SMACLITE, cached_git_dir, git


@pytest.fixture
def offline(monkeypatch):
    """Every upstream pointed at a source that does not exist: any fetch fails."""
    for upstream in ALL:
        monkeypatch.setenv(upstream.env_var, "/nonexistent/mirror.git")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EPYMARL_SN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_setup_needs_no_network_and_does_nothing(epymarl_dir, offline):
    log = []
    assert setup(epymarl_dir, log=log.append) == epymarl_dir
    assert log == []  # no fetch, no pip, no patching


def test_pinned_smac_and_smaclite_are_installed(epymarl_dir):
    for upstream, dist in ((SMAC, "smac"), (SMACLITE, "smaclite")):
        url = packages.installed_url(dist)
        assert f"/{upstream.name}-{upstream.commit[:12]}/" in url
    assert smac_flavour() == "oxwhirl"
    assert importlib.metadata.version("setuptools").split(".")[0] < "81"
    code = (
        "import pkg_resources, sacred, smaclite, torch, rware; "
        "from smac.env.starcraft2.starcraft2 import StarCraft2Env"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checkout_is_pinned_commit_with_patch(epymarl_dir):
    assert head_commit(epymarl_dir) == EPYMARL.commit
    assert patch_state(epymarl_dir) == "applied"


def test_cli_prints_checkout_path_last(epymarl_dir, offline):
    proc = subprocess.run(
        ["epymarl-sn", "setup", str(epymarl_dir)], capture_output=True, text=True, check=True
    )
    assert proc.stdout.splitlines() == [str(epymarl_dir)]


@pytest.mark.parametrize("form", ["git_dir", "file_url", "clone", "plain_tree"])
def test_epymarl_source_override_forms(form, epymarl_dir, tmp_path, monkeypatch):
    mirror = cached_git_dir(EPYMARL)  # the real cache, filled by the session fixture
    empty_cache = tmp_path / "cache"
    monkeypatch.setenv("EPYMARL_SN_CACHE", str(empty_cache))
    if form == "git_dir":
        source = str(mirror)
    elif form == "file_url":
        source = mirror.as_uri()
    elif form == "clone":
        source = str(tmp_path / "clone")
        git("clone", "--quiet", str(mirror), source)
    else:
        source = tmp_path / "plain"
        source.mkdir()
        archive = tmp_path / "src.tar"
        git("--git-dir", str(mirror), "archive", "-o", str(archive), EPYMARL.commit)
        subprocess.run(["tar", "-xf", str(archive), "-C", str(source)], check=True)
    monkeypatch.setenv(EPYMARL.env_var, str(source))
    log = []

    target = ensure_checkout(tmp_path / "out" / "epymarl", log=log.append)

    assert patch_state(target) == "applied"
    if form == "plain_tree":
        assert any("not checked" in line for line in log)
    else:
        assert head_commit(target) == EPYMARL.commit
        assert (empty_cache / "git" / "epymarl.git").is_dir()


def test_unreachable_source_names_the_override(tmp_path, empty_cache, offline):
    with pytest.raises(SetupError) as err:
        ensure_checkout(tmp_path / "epymarl")
    message = str(err.value)
    assert "/nonexistent/mirror.git" in message
    assert EPYMARL.env_var in message and EPYMARL.commit in message


def test_existing_checkout_at_other_commit_is_refused(epymarl_dir, tmp_path):
    other = tmp_path / "epymarl"
    git("clone", "--quiet", str(cached_git_dir(EPYMARL)), str(other))
    git("checkout", "--quiet", f"{EPYMARL.commit}~1", cwd=other)
    with pytest.raises(SetupError, match="not the pinned cbc38c095880"):
        ensure_checkout(other)


def test_non_epymarl_directory_is_refused(tmp_path):
    (tmp_path / "stuff.txt").write_text("mine")
    with pytest.raises(SetupError, match="not an EPyMARL checkout"):
        ensure_checkout(tmp_path)


@pytest.mark.parametrize(
    "backend, kernels",
    [
        ("RWARE", {"step_kernel", "obs_kernel"}),
        (
            "SMAClite",
            {"shuffles", "world_prepare", "unit_steps", "observe", "apply_hits", "tree_query"},
        ),
    ],
)
def test_setup_leaves_the_batched_kernels_in_numbas_cache(epymarl_dir, backend, kernels):
    """A run's first batched step loads the kernels that setup compiled: every kernel is
    a cache hit in a new process."""
    hits = kernel_cache_hits(epymarl_dir, BATCHED[backend])
    assert set(hits) == kernels
    assert all(n >= 1 for n in hits.values()), hits
