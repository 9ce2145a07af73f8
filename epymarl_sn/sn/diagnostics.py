"""The paper's SN diagnostics of a critic: each layer's sigma and the gradient scale k^-1."""
import torch
import torch.nn as nn

from epymarl_sn.sn.layer import SNLinear


@torch.no_grad()
def critic_diagnostics(critic):
    """`critic_sigma_layer{i}`: largest singular value of layer i's raw weight (1-based,
    every nn.Linear in registration order); `critic_grad_scale`: product over the
    normalised layers of the factor each applies to its weight now (1 when none is).
    """
    stats = {}
    grad_scale = 1.0
    linears = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears, start=1):
        stats[f"critic_sigma_layer{i}"] = torch.linalg.matrix_norm(layer.weight, ord=2).item()
        if isinstance(layer, SNLinear):
            grad_scale *= layer.weight_scale().item()
    stats["critic_grad_scale"] = grad_scale
    return stats
