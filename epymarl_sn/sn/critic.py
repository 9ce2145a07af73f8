"""`cv_critic_sn`: EPyMARL's centralised V critic with spectral normalisation on chosen layers."""

from types import SimpleNamespace
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from modules.critics.centralV import CentralVCritic

from epymarl_sn.sn.config import sn_settings
from epymarl_sn.sn.layer import SNLinear


class SNCentralVCritic(CentralVCritic):
    """CentralVCritic's inputs (state, optional obs / last actions, agent id) into an MLP of
    `critic_layers` layers (hidden_dim units, ReLU) whose layers `critic_sn` picks are
    SNLinear. Layers are fc1..fcN, as in CentralVCritic, so `critic_sn: none` with 3
    layers has cv_critic's parameters, names and initialisation exactly.
    """

    def __init__(self, scheme: dict[str, Any], args: SimpleNamespace) -> None:
        # CentralVCritic.__init__ would build (and randomly initialise) its own fixed
        # 3 layers, so only its attributes are set here; its input code is reused.
        nn.Module.__init__(self)
        self.args = args
        self.n_actions = args.n_actions
        self.n_agents = args.n_agents
        self.output_type = "v"
        self.sn = sn_settings(vars(args))

        widths = [self._get_input_shape(scheme)] + [args.hidden_dim] * (self.sn.layers - 1) + [1]
        for i in range(1, self.sn.layers + 1):
            layer: nn.Linear
            if i in self.sn.normalised:
                layer = SNLinear(
                    widths[i - 1],
                    widths[i],
                    k=self.sn.k,
                    clamp=self.sn.clamp,
                    power_iterations=self.sn.power_iterations,
                    stop_grad=self.sn.stop_grad,
                )
            else:
                layer = nn.Linear(widths[i - 1], widths[i])
            self.add_module(f"fc{i}", layer)

    @property
    def layers(self) -> list[nn.Linear]:
        return [getattr(self, f"fc{i}") for i in range(1, self.sn.layers + 1)]

    def forward(self, batch: Any, t: Optional[int] = None) -> torch.Tensor:
        x, _, _ = self._build_inputs(batch, t=t)
        *hidden, last = self.layers
        for layer in hidden:
            x = F.relu(layer(x))
        return last(x)
