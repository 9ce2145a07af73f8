"""The pinned upstream repositories and a local cache of them.

Each upstream is fetched once into a bare git repository under the cache
(`EPYMARL_SN_CACHE`, default `~/.cache/epymarl-sn`); later runs find the pinned
commit there and need no network. `EPYMARL_SN_<NAME>_SOURCE` overrides where it
comes from: a URL, a local clone, a bare git directory, or a plain source tree.
"""

import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from epymarl_sn.errors import SetupError


@dataclass(frozen=True)
class Upstream:
    name: str
    url: str
    commit: str

    @property
    def env_var(self) -> str:
        return f"EPYMARL_SN_{self.name.upper()}_SOURCE"

    @property
    def source(self) -> str:
        return os.environ.get(self.env_var) or self.url


EPYMARL = Upstream(
    "epymarl",
    "https://github.com/uoe-agents/epymarl.git",
    "cbc38c09588064eab978501d0f12c2cf58fa7fc2",
)
SMAC = Upstream(
    "smac",
    "https://github.com/oxwhirl/smac.git",
    "d6aab33f76abc3849c50463a8592a84f59a5ef84",
)
SMACLITE = Upstream(
    "smaclite",
    "https://github.com/uoe-agents/smaclite.git",
    "0d6abbea1334011984ae4704a0ef7a33c36057d6",
)
RVO2 = Upstream(
    "rvo2",
    "https://github.com/micadam/SMAClite-Python-RVO2.git",
    "a693b272e387bcf02a8f41ef295d7c3e1b19abb0",
)
ALL = (EPYMARL, SMAC, SMACLITE, RVO2)


def cache_dir() -> Path:
    """The setup cache: $EPYMARL_SN_CACHE, else $XDG_CACHE_HOME/epymarl-sn, else
    ~/.cache/epymarl-sn; made if missing. SetupError naming the variable it came from
    if it cannot be a directory (under a file, read-only, ...)."""
    for var in ("EPYMARL_SN_CACHE", "XDG_CACHE_HOME"):
        if os.environ.get(var):
            source, path = var, Path(os.environ[var])
            break
    else:
        source, path = "HOME", Path.home() / ".cache"
    path = path if source == "EPYMARL_SN_CACHE" else path / "epymarl-sn"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SetupError(
            f"the setup cache {path} (from {source}) cannot be made a directory "
            f"({err.strerror}); set EPYMARL_SN_CACHE to a directory you can write"
        ) from None
    return path


def git(*args: str, cwd: Optional[Union[str, Path]] = None) -> str:
    """Run git, returning stdout; a failure raises SetupError with git's message."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise SetupError(msg[-1] if msg else f"git exited with {proc.returncode}")
    return proc.stdout.strip()


def _has_commit(git_dir: Path, commit: str) -> bool:
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def plain_tree(source: str) -> Optional[Path]:
    """A local directory that is not a git repository: used as it is."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return None
    inside_git = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--git-dir"],
        capture_output=True,
        check=False,
    )
    return path if inside_git.returncode != 0 else None


def cached_git_dir(upstream: Upstream, log: Callable[[str], None] = print) -> Path:
    """The cache's bare repository holding the pinned commit, fetched if needed."""
    git_dir = cache_dir() / "git" / f"{upstream.name}.git"
    if git_dir.is_dir() and _has_commit(git_dir, upstream.commit):
        return git_dir
    source = upstream.source
    log(f"fetching {upstream.name} from {source}")
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    if not git_dir.is_dir():
        git("init", "--quiet", "--bare", str(git_dir))
    fix = (
        f"check the network, or point {upstream.env_var} at a URL, clone or git "
        f"directory that has commit {upstream.commit}"
    )
    try:
        git(
            "--git-dir",
            str(git_dir),
            "fetch",
            "--quiet",
            source,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        )
        if not _has_commit(git_dir, upstream.commit):
            git("--git-dir", str(git_dir), "fetch", "--quiet", source, upstream.commit)
    except SetupError as err:
        raise SetupError(f"cannot fetch {upstream.name} from {source} ({err}); {fix}") from None
    if not _has_commit(git_dir, upstream.commit):
        raise SetupError(f"{source} has no commit {upstream.commit}; {fix}")
    return git_dir


def source_tree(upstream: Upstream, log: Callable[[str], None] = print) -> Path:
    """A directory with the upstream's files at the pinned commit (cached)."""
    plain = plain_tree(upstream.source)
    if plain is not None:
        log(
            f"using {upstream.name} from the plain directory {plain} "
            f"(not a git repository, so commit {upstream.commit[:12]} is not checked)"
        )
        return plain
    tree = cache_dir() / "src" / f"{upstream.name}-{upstream.commit[:12]}"
    if tree.is_dir():
        return tree
    git_dir = cached_git_dir(upstream, log)
    tree.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tree.parent) as tmp:
        archive = Path(tmp) / "src.tar"
        git("--git-dir", str(git_dir), "archive", "--output", str(archive), upstream.commit)
        with tarfile.open(archive) as tar:
            tar.extractall(Path(tmp) / "tree", filter="data")
        (Path(tmp) / "tree").rename(tree)
    return tree
