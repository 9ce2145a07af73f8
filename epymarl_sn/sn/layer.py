"""A linear layer with spectral normalisation (Miyato et al. 2018; the paper's eqs. 5, 6).

The layer keeps its raw weight W as the trained parameter and applies W_hat = W / d,
where sigma = u^T W v estimates W's largest singular value by power iteration and

    d = sigma / k                (clamp=False: ||W_hat||_2 = k, eq. 5 with a target k)
    d = max(1, sigma / k)        (clamp=True: ||W_hat||_2 <= k, eq. 6 read as a bound)

It is built as the authors' critic builds its layers (src_spectral/modules/critics/
centralV.py: torch's `torch.nn.utils.parametrizations.spectral_norm` on an nn.Linear):
an nn.Linear with a parametrization of its weight registered through torch's
`torch.nn.utils.parametrize`. `SpectralNorm` is torch's spectral-norm parametrization
(same random start, same power iteration: u, then v; same sigma and W / sigma) plus what
torch's lacks: the target k, the clamp and the stop-gradient. With k = 1 and the other
two off, the layer equals the authors' value for value, and so do its parameters' order
and its state_dict: a checkpoint of one loads into the other.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

# torch's spectral_norm: its default eps, and the power iterations it runs on its random
# start before the layer is first used
EPS = 1e-12
START_ITERATIONS = 15


class SpectralNorm(nn.Module):
    """The parametrization W -> W / d of one weight matrix, with its power-iteration
    state: the buffers `_u` and `_v` (torch's names, so state_dicts match torch's)."""

    _u: torch.Tensor
    _v: torch.Tensor

    def __init__(
        self,
        weight: torch.Tensor,
        *,
        k: float = 1.0,
        clamp: bool = False,
        power_iterations: int = 1,
        stop_grad: bool = False,
    ) -> None:
        super().__init__()
        self.k = float(k)
        self.clamp = clamp
        self.power_iterations = power_iterations
        self.stop_grad = stop_grad
        # torch's start: drawn from the global generator (u, then v), then iterated; the
        # draw is what makes a critic equal the authors' one built from the same seed
        u = weight.new_empty(weight.shape[0]).normal_(0, 1)
        v = weight.new_empty(weight.shape[1]).normal_(0, 1)
        self.register_buffer("_u", F.normalize(u, dim=0, eps=EPS))
        self.register_buffer("_v", F.normalize(v, dim=0, eps=EPS))
        self.power_method(weight, START_ITERATIONS)

    @torch.no_grad()
    def power_method(self, weight: torch.Tensor, iterations: int) -> None:
        """Move u, v towards the weight's top singular vectors (in place: a deepcopy's
        or a loaded state's buffers are the ones stepped)."""
        for _ in range(iterations):
            F.normalize(torch.mv(weight, self._v), dim=0, eps=EPS, out=self._u)
            F.normalize(torch.mv(weight.H, self._u), dim=0, eps=EPS, out=self._v)

    def sigma(self, weight: torch.Tensor) -> torch.Tensor:
        """The estimate u^T W v of W's largest singular value."""
        if self.stop_grad:
            weight = weight.detach()
        # clones: autograd keeps u, v for backward and the next forward updates them in place
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        return torch.vdot(u, torch.mv(weight, v))

    def divisor(self, weight: torch.Tensor) -> torch.Tensor:
        """d in W_hat = W / d. sigma / k is sigma itself for k = 1, so W / d is torch's
        W / sigma to the last bit, its gradient too."""
        d = self.sigma(weight) / self.k
        return d.clamp(min=1.0) if self.clamp else d

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        # like torch's spectral_norm: power iteration only while training
        if self.training:
            self.power_method(weight, self.power_iterations)
        return weight / self.divisor(weight)

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        # as torch's: assigning the weight sets the raw weight
        return value

    def extra_repr(self) -> str:
        return (
            f"k={self.k}, clamp={self.clamp}, power_iterations={self.power_iterations}, "
            f"stop_grad={self.stop_grad}"
        )


class SNLinear(nn.Linear):
    """nn.Linear whose weight is spectrally normalised on every forward.

    `weight` is the normalised weight W_hat (read in training mode, it takes a
    power-iteration step, as torch's spectral_norm does); the trained parameter is the
    raw weight `raw_weight`, stored as `parametrizations.weight.original`. u and v are
    buffers of the parametrization, so state_dict (save/load) and deepcopy carry them.
    """

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
        norm = SpectralNorm(
            self.weight, k=k, clamp=clamp, power_iterations=power_iterations, stop_grad=stop_grad
        )
        # torch checks a new parametrization by running it once (in training mode, so one
        # more power-iteration step), as the authors' layers had it
        parametrize.register_parametrization(self, "weight", norm)

    def _parametrizations(self) -> parametrize.ParametrizationList:
        found = self.get_submodule("parametrizations.weight")
        assert isinstance(found, parametrize.ParametrizationList)
        return found

    @property
    def norm(self) -> SpectralNorm:
        norm = self._parametrizations()[0]
        assert isinstance(norm, SpectralNorm)
        return norm

    @property
    def raw_weight(self) -> torch.Tensor:
        """The trained parameter W (what Adam and the gradient clipping see)."""
        return self._parametrizations().original

    @property
    def u(self) -> torch.Tensor:
        return self.norm._u

    @property
    def v(self) -> torch.Tensor:
        return self.norm._v

    def sigma(self) -> torch.Tensor:
        """The estimate u^T W v of the raw weight's largest singular value (no step)."""
        return self.norm.sigma(self.raw_weight)

    def weight_scale(self) -> torch.Tensor:
        """The factor 1 / d applied to the raw weight (the paper's k_i^-1 when k = 1)."""
        return 1.0 / self.norm.divisor(self.raw_weight)


def raw_weight(layer: nn.Linear) -> torch.Tensor:
    """A linear layer's trained weight: an SNLinear's raw W, a plain layer's weight."""
    return layer.raw_weight if isinstance(layer, SNLinear) else layer.weight
