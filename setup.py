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
    install_requires=["pyyaml", "packaging"],
    extras_require={"test": ["pytest", "mongomock"]},
    entry_points={
        "epymarl.plugins": ["sn = epymarl_sn:register"],
        "console_scripts": ["epymarl-sn = epymarl_sn.cli:main"],
    },
)
