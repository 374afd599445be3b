"""nn.AdaptiveLogSoftmaxWithLoss (Grave et al., "Efficient softmax approximation for GPUs").

The frequent classes (below ``cutoffs[0]``) and one entry per rarer cluster share a head softmax; each
cluster has its own smaller softmax behind a low-rank projection. A target's log-probability is its
head log-probability, plus its cluster-local one when it is in a cluster. PyTorch's layout, parameter
names and formulas; the scatter of the per-cluster results is an ``index_add`` instead of an in-place
``index_copy_``.
"""

from __future__ import annotations

import itertools
from collections import namedtuple

from ...errors import InvalidArgumentError
from ...ops.creation import zeros
from ...ops.elementwise import logical_and, where
from ...ops.shape import cat
from .container import ModuleList, Sequential
from .linear import Linear
from ..module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """forward(input (N, in_features), target (N,)) -> (output: the targets' log-probabilities, loss: their
    negated mean); ``log_prob(input)`` gives every class's, ``predict(input)`` the most probable one."""

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0, head_bias: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise InvalidArgumentError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > (n_classes - 1)
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise InvalidArgumentError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                                       "order, where each value is between 1 and n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, **factory)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hsz, bias=False, **factory),
                                        Linear(hsz, osz, bias=False, **factory)))

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_, target_):
        targ_dim = target_.ndim
        if targ_dim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise InvalidArgumentError("Input and target should have the same size in the batch dimension.")
            if input_.ndim != 2:
                raise InvalidArgumentError(f"1D target tensor expects 2D input tensors, but found inputs with size "
                                           f"{input_.shape}")
        elif targ_dim == 0:
            if input_.ndim != 1:
                raise InvalidArgumentError(f"0D target tensor expects 1D input tensors, but found inputs with size "
                                           f"{input_.shape}")
        else:
            raise InvalidArgumentError("0D or 1D target tensor expected, multi-target not supported")
        is_batched = targ_dim > 0
        input = input_ if is_batched else input_.unsqueeze(0)
        target = target_ if is_batched else target_.unsqueeze(0)
        used_rows = 0
        batch_size = target.shape[0]
        output = zeros((batch_size,), dtype=input.dtype, device=input.device)
        gather_inds = zeros((batch_size,), dtype=target.dtype, device=target.device)
        cutoff_values = [0] + self.cutoffs
        for i in range(len(cutoff_values) - 1):
            low_idx, high_idx = cutoff_values[i], cutoff_values[i + 1]
            target_mask = logical_and(target >= low_idx, target < high_idx)
            row_indices = target_mask.nonzero().reshape(-1)
            if row_indices.numel() == 0:
                continue
            if i == 0:
                gather_inds = where(target_mask, target, gather_inds)
            else:
                relative_target = target.index_select(0, row_indices) - low_idx
                cluster_output = self.tail[i - 1](input.index_select(0, row_indices))
                gather_inds = where(target_mask, self.shortlist_size + i - 1, gather_inds)
                local_logprob = cluster_output.log_softmax(1).gather(1, relative_target.unsqueeze(1))
                output = output.index_add(0, row_indices, local_logprob.reshape(-1))
            used_rows += row_indices.numel()
        if used_rows != batch_size:
            raise InvalidArgumentError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                                       f"[{target.min().item()}, {target.max().item()}] were found. ")
        head_logprob = self.head(input).log_softmax(1)
        output = output + head_logprob.gather(1, gather_inds.unsqueeze(1)).reshape(-1)
        loss = (-output).mean()
        if not is_batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input, head_output):
        head_logprob = head_output.log_softmax(1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i, _ in enumerate(itertools.pairwise(self.cutoffs)):
            cluster_logprob = self.tail[i](input).log_softmax(1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return cat(parts, 1)

    def log_prob(self, input):
        """The log-probabilities (N, n_classes) of every class."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input):
        """The most probable class of each row: log_prob(input).argmax(1), without the clusters when the head
        already picks a frequent class for every row."""
        head_output = self.head(input)
        output = head_output.argmax(1)
        not_in_shortlist = output >= self.shortlist_size
        if not bool(not_in_shortlist.any()):
            return output
        log_prob = self._get_full_log_prob(input, head_output)
        return where(not_in_shortlist, log_prob.argmax(1), output)
