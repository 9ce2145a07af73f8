"""The paper's method: the spectrally normalised linear layer (`layer.SNLinear`), the
centralised critic built from it (`critic`), the learner's SN diagnostics (`learner`,
`diagnostics`) and the checks of the SN config keys (`config`)."""
