"""The paper's sparse-reward StarCraft: the reward identity (`reward`), the SMAClite and
SMAC adapters (`smaclite`, `sc2`, `factories`) and the checks run before training
(`checks`, `installed`, `starcraft`)."""
