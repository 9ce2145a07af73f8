"""A linear layer with spectral normalisation (Miyato et al. 2018; the paper's eqs. 5, 6).

The layer keeps its raw weight W as the trained parameter and applies W_hat = s * W,
where sigma = u^T W v estimates W's largest singular value by power iteration and

    s = k / sigma                (clamp=False: ||W_hat||_2 = k, eq. 5 with a target k)
    s = min(1, k / sigma)        (clamp=True: ||W_hat||_2 <= k, eq. 6 read as a bound)
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SNLinear(nn.Linear):
    """nn.Linear whose weight is spectrally normalised on every forward.

    u and v are buffers, so state_dict (save/load) and deepcopy carry the power
    iteration state. They start as W's exact top singular vectors (an SVD, which draws
    no random numbers: a normalised critic keeps the RNG stream of a plain one).
    """

    u: torch.Tensor
    v: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        k: float = 1.0,
        clamp: bool = False,
        power_iterations: int = 1,
        stop_grad: bool = False,
    ) -> None:
        super().__init__(in_features, out_features, bias)
        self.k = float(k)
        self.clamp = clamp
        self.power_iterations = power_iterations
        self.stop_grad = stop_grad
        u, _, vh = torch.linalg.svd(self.weight.detach(), full_matrices=False)
        self.register_buffer("u", u[:, 0].contiguous())
        self.register_buffer("v", vh[0].contiguous())

    @torch.no_grad()
    def power_iteration(self) -> None:
        """Move u, v towards W's top singular vectors (in place, outside autograd)."""
        for _ in range(self.power_iterations):
            self.v.copy_(F.normalize(torch.mv(self.weight.t(), self.u), dim=0, eps=1e-12))
            self.u.copy_(F.normalize(torch.mv(self.weight, self.v), dim=0, eps=1e-12))

    def sigma(self) -> torch.Tensor:
        """The estimate u^T W v of W's largest singular value."""
        weight = self.weight.detach() if self.stop_grad else self.weight
        # clones: autograd keeps u, v for backward and the next forward updates them in place
        return torch.dot(self.u.clone(), torch.mv(weight, self.v.clone()))

    def weight_scale(self) -> torch.Tensor:
        """The factor s applied to the raw weight (the paper's k_i^-1 when k = 1)."""
        scale = self.k / self.sigma()
        return scale.clamp(max=1.0) if self.clamp else scale

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.weight_scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # like torch's spectral_norm: power iteration only while training
        if self.training:
            self.power_iteration()
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, k={self.k}, clamp={self.clamp}, "
            f"power_iterations={self.power_iterations}, stop_grad={self.stop_grad}"
        )
