"""The critic's diagnostics: the paper's SN quantities (each layer's sigma, the gradient
scale k^-1) and the authors' second gradient norm."""

import torch
import torch.nn as nn

from epymarl_sn.sn.layer import SNLinear, raw_weight


@torch.no_grad()
def critic_diagnostics(critic: nn.Module) -> dict[str, float]:
    """`critic_sigma_layer{i}`: largest singular value of layer i's raw weight (1-based,
    every nn.Linear in registration order); `critic_grad_scale`: product over the
    normalised layers of the factor each applies to its weight now (1 when none is).
    """
    stats = {}
    grad_scale = 1.0
    linears = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears, start=1):
        stats[f"critic_sigma_layer{i}"] = torch.linalg.matrix_norm(raw_weight(layer), ord=2).item()
        if isinstance(layer, SNLinear):
            grad_scale *= layer.weight_scale().item()
    stats["critic_grad_scale"] = grad_scale
    return stats


@torch.no_grad()
def clipped_weights_grad_norm(critic: nn.Module) -> float:
    """The authors' `norm/critic_grad_norm` (src_spectral/utils/param_utils.py,
    get_param_plot_stats_sn, called at the end of their PPO train()): the 2-norm of the
    gradients of the critic's layer weights only (no biases; an SN layer's raw weight),
    as the last critic update left them, i.e. after clip_grad_norm_.
    """
    grads = [raw_weight(m).grad for m in critic.modules() if isinstance(m, nn.Linear)]
    return torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g) for g in grads])
    ).item()
