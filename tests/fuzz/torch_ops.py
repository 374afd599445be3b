"""Each Ember operator's PyTorch counterpart, and the operators the fuzz does not compare.

The counterpart takes the arguments of the Ember schema, in its order. Most are found by name
(``torch.<name>``, then the Tensor method, ``torch.nn.functional``, ``torch.special``, ``torch.linalg``,
``torch.ops.aten``); ``OVERRIDES`` holds the ones whose torch spelling or argument order differs, and
torch compositions of Ember's fused steps (optimizer steps, LSTM cell, backward kernels)."""

from __future__ import annotations

import math

import torch

F = torch.nn.functional
aten = torch.ops.aten

#: Operators not run at all, with the reason.
SKIP = {
    "philox_random": "Ember's counter-based generator has no torch counterpart (its stream is Ember's own)",
}

#: Operators torch gets contiguous copies for: its CPU median reads stride-0 (expanded) inputs wrongly
#: (median of [1, 1, 1, 1, 1] expanded from one uint8 element gives 66 in torch 2.13).
TORCH_CONTIGUOUS = {"median", "median_dim", "nanmedian", "nanmedian_dim"}

#: Operators whose values are random or uninitialised: only errors, dtypes and shapes are compared.
SHAPE_ONLY = {
    "bernoulli": "random", "bernoulli_": "random", "dropout": "random", "multinomial": "random",
    "normal_": "random", "poisson": "random", "rand": "random", "randint": "random", "randn": "random",
    "randperm": "random", "uniform_": "random", "empty": "uninitialised memory",
}


def _inplace_of(fn):
    """An in-place form torch lacks, with torch's in-place rules: the result must be castable to
    self's dtype and have self's shape; torch's copy_ refuses overlapping (expanded) self."""
    def run(self, other):
        r = fn(self, other)
        if not torch.can_cast(r.dtype, self.dtype):
            raise RuntimeError(f"result type {r.dtype} can't be cast to the desired output type {self.dtype}")
        if r.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(r.shape)}")
        return self.copy_(r)
    return run


def _floating(*ts):
    if any(not t.is_floating_point() for t in ts):
        raise RuntimeError("LSTM cell: expected floating point tensors")


def _lstm_cell(gates, cx):
    _floating(gates, cx)
    i, f, g, o = gates.chunk(4, 1)
    cy = torch.sigmoid(f) * cx + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cy), cy


def _lstm_cell_backward(grad_hy, grad_cy, gates, cx, cy):
    """PyTorch's fused LSTM cell backward: the activations from gates, tanh from the given cy."""
    _floating(grad_hy, grad_cy, gates, cx, cy)
    i, f, g, o = gates.chunk(4, 1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    tc = torch.tanh(cy)
    gc = grad_cy + grad_hy * o * (1 - tc * tc)
    grads = (gc * g * i * (1 - i), gc * cx * f * (1 - f), gc * i * (1 - g * g), grad_hy * tc * o * (1 - o))
    return torch.cat(grads, 1), gc * f


def _bn_train(input, weight=None, bias=None, eps=1e-5):
    return F.batch_norm(input, None, None, weight, bias, True, 0.0, eps)


def _bn_train_backward(grad_output, input, weight=None, eps=1e-5):
    c = input.shape[1]
    x = input.detach().requires_grad_()
    w = (weight if weight is not None else torch.ones(c, dtype=input.dtype)).detach().requires_grad_()
    b = torch.zeros(c, dtype=input.dtype, requires_grad=True)
    return torch.autograd.grad(_bn_train(x, w, b, eps), (x, w, b), grad_output)


def _conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1):
    x, w = input.detach().requires_grad_(), weight.detach().requires_grad_()
    b = torch.zeros(weight.shape[0], dtype=weight.dtype, requires_grad=True)
    return torch.autograd.grad(F.conv2d(x, w, b, stride, padding, dilation, groups), (x, w, b), grad_output)


def _cross_entropy(self, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    return F.cross_entropy(self, target, weight, reduction=reduction, ignore_index=ignore_index,
                           label_smoothing=label_smoothing)


def _cross_entropy_backward(grad_output, self, target, weight=None, reduction="mean", ignore_index=-100,
                            label_smoothing=0.0):
    x = self.detach().requires_grad_()
    loss = _cross_entropy(x, target, weight, reduction, ignore_index, label_smoothing)
    if grad_output.numel() == loss.numel():
        grad_output = grad_output.reshape(loss.shape)
    return torch.autograd.grad(loss, x, grad_output)[0]


def _adam_step(self, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, lr=1e-3, beta1=0.9, beta2=0.999,
               eps=1e-8, weight_decay=0.0, step=1.0, decoupled=False):
    """torch.optim.Adam's (decoupled: AdamW's) single-tensor update, written out."""
    if weight_decay != 0:
        if decoupled:
            self.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(self, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    if max_exp_avg_sq is not None:
        torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        denom = (max_exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(eps)
    else:
        denom = (exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(eps)
    return self.addcdiv_(exp_avg, denom, value=-lr / bc1)


def _sgd_step(self, grad, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, first=False):
    """torch.optim.SGD's single-tensor update, written out (first: the buffer starts as the gradient)."""
    d_p = grad.add(self, alpha=weight_decay) if weight_decay != 0 else grad
    if momentum != 0 and momentum_buffer is not None:
        if first:
            momentum_buffer.copy_(d_p)
        else:
            momentum_buffer.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    return self.add_(d_p, alpha=-lr)


def _scatter(name):
    def run(self, dim, index, src=None, *, value=None, reduce=None):
        kw = {} if reduce is None else {"reduce": reduce}
        return getattr(torch.Tensor, name)(self, dim, index, src if src is not None else value, **kw)
    return run


def _prod(self, dim=None, keepdim=False, *, dtype=None):
    """torch.prod takes one dim; Ember's takes a list, reduced one dim at a time."""
    if dim is None:
        return torch.prod(self, dtype=dtype)
    dims = [dim] if isinstance(dim, int) else list(dim)
    if not dims:
        return torch.prod(self, dtype=dtype)
    n = max(self.dim(), 1)
    if any(not -n <= d < n for d in dims):
        raise IndexError(f"prod: dimension out of range (expected to be in range of [{-n}, {n - 1}], got {dims})")
    if len(set(d % max(self.dim(), 1) for d in dims)) != len(dims):
        raise RuntimeError(f"prod: dim {dims} appears multiple times in the list of dims")
    out = self
    for d in sorted((d % max(self.dim(), 1) for d in dims), reverse=True):
        out = torch.prod(out, d, keepdim=True, dtype=dtype)
        dtype = None
    return out if keepdim else out.squeeze(dims) if self.dim() else out


def _sparse_mm(indices, values, dense, rows):
    return torch.sparse_coo_tensor(indices, values, (rows, dense.shape[0])) @ dense


def _fft(name):
    """torch's private FFT operator with negative dims wrapped first (it expects them wrapped)."""
    fn = getattr(aten, name)

    def run(self, dim, *rest):
        n = self.dim()
        return fn(self, [d + n if -n <= d < 0 else d for d in dim], *rest)
    return run


#: Ember name -> torch callable taking the Ember schema's arguments. sign: Ember's kernel contract
#: keeps NaN (sign(NaN) is NaN, as NumPy and IEEE copysign-style sign do); torch's CPU kernel gives 0.
OVERRIDES = {
    "_fft_c2c": _fft("_fft_c2c"), "_fft_c2r": _fft("_fft_c2r"), "_fft_r2c": _fft("_fft_r2c"),
    "_linalg_cholesky_ex": lambda a, upper=False: torch.linalg.cholesky_ex(a, upper=upper),
    "_linalg_eigh": lambda a, UPLO="L": torch.linalg.eigh(a, UPLO),
    "_linalg_inv_ex": lambda a: torch.linalg.inv_ex(a),
    "_linalg_qr": lambda a, mode="reduced": torch.linalg.qr(a, mode),
    "_linalg_slogdet": lambda a: torch.linalg.slogdet(a),
    "_linalg_solve_ex": lambda A, B, left=True: torch.linalg.solve_ex(A, B, left=left),
    "_linalg_svd": lambda a, full_matrices=True: torch.linalg.svd(a, full_matrices),
    "_lstm_cell": _lstm_cell,
    "_lstm_cell_backward": _lstm_cell_backward,
    "_sparse_mm": _sparse_mm,
    "_special_ndtri": torch.special.ndtri,
    "adam_step_": _adam_step,
    "argsort": lambda s, dim=-1, descending=False, stable=False: torch.argsort(s, dim=dim, descending=descending,
                                                                               stable=stable),
    "batch_norm": lambda input, running_mean=None, running_var=None, weight=None, bias=None, training=False,
    momentum=0.1, eps=1e-5: F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps),
    "batch_norm_train": _bn_train,
    "batch_norm_train_backward": _bn_train_backward,
    "binary_cross_entropy": lambda s, t, weight=None, reduction="mean": F.binary_cross_entropy(
        s, t, weight, reduction=reduction),
    "binary_cross_entropy_with_logits": lambda s, t, weight=None, pos_weight=None, reduction="mean":
        F.binary_cross_entropy_with_logits(s, t, weight, reduction=reduction, pos_weight=pos_weight),
    "block_diag": lambda tensors: torch.block_diag(*tensors),
    "col2im": lambda s, output_size, kernel_size, dilation=1, padding=0, stride=1: F.fold(
        s, output_size, kernel_size, dilation, padding, stride),
    "conv2d_backward": _conv2d_backward,
    "cross_entropy": _cross_entropy,
    "cross_entropy_backward": _cross_entropy_backward,
    "embedding": lambda weight, indices, padding_idx=None: F.embedding(indices, weight, padding_idx),
    "im2col": lambda s, kernel_size, dilation=1, padding=0, stride=1: F.unfold(s, kernel_size, dilation, padding,
                                                                             stride),
    "dropout": lambda input, p=0.5, training=True, inplace=False, *, generator=None: F.dropout(
        input, p, training, inplace),
    "gelu": lambda s, approximate="none": F.gelu(s, approximate=approximate),
    "gelu_backward": lambda g, s, approximate="none": aten.gelu_backward(g, s, approximate=approximate),
    "prod": _prod,
    "index": aten.index.Tensor,
    "l1_loss": lambda s, t, reduction="mean": F.l1_loss(s, t, reduction=reduction),
    "logaddexp_": _inplace_of(torch.logaddexp),
    "max_dim": lambda s, dim, keepdim=False: torch.max(s, dim, keepdim),
    "maximum_": _inplace_of(torch.maximum),
    "median_dim": lambda s, dim=-1, keepdim=False: torch.median(s, dim, keepdim),
    "min_dim": lambda s, dim, keepdim=False: torch.min(s, dim, keepdim),
    "minimum_": _inplace_of(torch.minimum),
    "mse_loss": lambda s, t, reduction="mean": F.mse_loss(s, t, reduction=reduction),
    "nanmedian_dim": lambda s, dim=-1, keepdim=False: torch.nanmedian(s, dim, keepdim),
    "nll_loss": lambda s, t, weight=None, reduction="mean", ignore_index=-100: F.nll_loss(
        s, t, weight, reduction=reduction, ignore_index=ignore_index),
    "scatter": _scatter("scatter"),
    "scatter_": _scatter("scatter_"),
    "sgd_step_": _sgd_step,
    "sign": lambda s: torch.where(torch.isnan(s), s, torch.sign(s)),
    "sign_": lambda s: s.copy_(torch.where(torch.isnan(s), s, torch.sign(s))) if s.is_floating_point() else s.sign_(),
    "slice": aten.slice.Tensor,
    "sort": lambda s, dim=-1, descending=False, stable=False: torch.sort(s, dim=dim, descending=descending,
                                                                         stable=bool(stable)),
    "squeeze": lambda s, dim=None: torch.squeeze(s) if dim is None else torch.squeeze(s, dim),
    "trunc_divide": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
    "trunc_divide_": lambda a, b: a.div_(b, rounding_mode="trunc"),
}

_NAMESPACES = (torch, torch.Tensor, F, torch.special, torch.linalg)


def torch_callable(name: str):
    """The torch function that computes Ember operator ``name``; None when there is none."""
    if name in OVERRIDES:
        return OVERRIDES[name]
    spaces = (torch.Tensor,) + _NAMESPACES if name.endswith("_") else _NAMESPACES
    for ns in spaces:
        fn = getattr(ns, name, None)
        if callable(fn):
            return fn
    try:
        return getattr(aten, name)
    except AttributeError:
        return None
