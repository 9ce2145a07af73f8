"""A non-editable install ships the presets, the patch and the entry points."""

import zipfile
from pathlib import Path

from epymarl_sn.install.packages import build_wheel

REPO = Path(__file__).resolve().parents[2]


def test_wheel_ships_presets_patch_and_entry_points(tmp_path):
    wheel = build_wheel(REPO, tmp_path)
    names = zipfile.ZipFile(wheel).namelist()

    presets = [str(p.relative_to(REPO / "config")) for p in (REPO / "config").rglob("*.yaml")]
    assert {"algs/mappo_sn.yaml", "envs/smaclite_sparse.yaml"} <= set(presets)
    for preset in presets:
        assert f"epymarl_sn/presets/{preset}" in names
    assert "epymarl_sn/patches/epymarl_plugins.patch" in names
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[epymarl.plugins]\nsn = epymarl_sn.plugin:register" in text
    assert "epymarl-sn = epymarl_sn.cli:main" in text
