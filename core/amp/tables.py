"""Which operators autocast runs in which precision: PyTorch 2.13's lists, as data.

PyTorch keeps two families of lists (``aten/src/ATen/autocast_mode.cpp``): one
for CPU, one shared by CUDA, XPU, MPS and XLA. A backend names the family it
follows in its ``Capabilities.autocast_lists``. Names are Ember operators
(``ember.dispatch.registry``) or, for functions Ember builds in Python rather
than as one operator, their module's name: ``F.`` (``ember.nn.functional``), ``linalg.``, ``fft.``.

Policies:
- ``lower``: floating inputs are cast to the region's dtype (bfloat16/float16).
- ``fp32``: floating inputs are cast to float32.
- ``fp32_opt``: as fp32, by passing ``dtype=float32`` when the caller gave none
  and the first input is an eligible floating tensor (sum, softmax, ...).
- ``promote``: inputs are cast to the widest floating type among them.
- ``banned``: refused in an autocast region (unsafe in lower precision).

Eligible: a floating tensor on the region's device type that is not float64.
"""

from __future__ import annotations

LOWER, FP32, FP32_OPT, PROMOTE, BANNED = "lower", "fp32", "fp32_opt", "promote", "banned"
POLICIES = (LOWER, FP32, FP32_OPT, PROMOTE, BANNED)

_CPU = {
    LOWER: ("conv1d", "conv2d", "F.conv3d", "bmm", "mm", "baddbmm", "addmm", "addbmm", "matmul", "F.linear",
            "F.conv_transpose1d", "F.conv_transpose2d", "F.conv_transpose3d", "F.prelu",
            "scaled_dot_product_attention", "F.scaled_dot_product_attention"),
    FP32: ("binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "mse_loss",
           "l1_loss", "F.smooth_l1_loss", "F.huber_loss", "F.kl_div", "F.poisson_nll_loss",
           "F.cosine_embedding_loss", "F.hinge_embedding_loss", "F.margin_ranking_loss", "F.soft_margin_loss",
           "F.triplet_margin_loss", "F.multi_margin_loss", "F.multilabel_margin_loss", "F.ctc_loss",
           "prod", "quantile", "nanquantile", "cdist", "trace", "polar", "view_as_complex",
           "F.avg_pool3d", "F.max_pool3d", "F.adaptive_avg_pool3d", "F.adaptive_max_pool3d", "F.grid_sample",
           "fft.fft", "fft.ifft", "fft.rfft", "fft.irfft", "fft.hfft", "fft.ihfft", "fft.fftn", "fft.ifftn",
           "fft.fft2", "fft.ifft2", "fft.rfftn", "fft.irfftn", "fft.rfft2", "fft.irfft2",
           "linalg.cholesky", "linalg.cholesky_ex", "linalg.inv", "linalg.inv_ex", "linalg.qr", "linalg.svd",
           "linalg.svdvals", "linalg.eigh", "linalg.eigvalsh", "linalg.solve", "linalg.lstsq",
           "linalg.matrix_rank", "linalg.householder_product", "linalg.pinverse"),
    FP32_OPT: (),
    PROMOTE: ("cat", "stack", "index_copy"),
    BANNED: (),
}

# cross_entropy is one operator in Ember: PyTorch's CUDA list reaches the same float32 through its parts
# (log_softmax, nll_loss), so it is listed here as fp32.
_CUDA = {
    LOWER: ("conv1d", "conv2d", "F.conv3d", "F.conv_transpose1d", "F.conv_transpose2d", "F.conv_transpose3d",
            "F.prelu", "addmm", "addmv", "addr", "matmul", "einsum", "mm", "mv", "F.linear", "addbmm", "baddbmm",
            "bmm", "_lstm_cell", "scaled_dot_product_attention", "F.scaled_dot_product_attention",
            "linalg.multi_dot"),
    FP32: ("acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal",
           "rsqrt", "sinh", "tan", "pow", "F.softplus", "layer_norm", "group_norm", "F.rms_norm",
           "cosine_similarity", "F.poisson_nll_loss", "F.cosine_embedding_loss", "nll_loss",
           "F.hinge_embedding_loss", "F.kl_div", "l1_loss", "F.smooth_l1_loss", "F.huber_loss", "mse_loss",
           "F.margin_ranking_loss", "F.multilabel_margin_loss", "F.soft_margin_loss", "F.triplet_margin_loss",
           "F.multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm",
           "logsumexp", "cross_entropy"),
    FP32_OPT: ("prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum", "linalg.vector_norm",
               "linalg.matrix_norm"),
    PROMOTE: ("addcdiv", "addcmul", "atan2", "F.bilinear", "cross", "dot", "tensordot", "index_put", "scatter_add",
              "F.grid_sample"),
    BANNED: ("binary_cross_entropy",),
}

#: list family -> {name: policy}. "cpu" is PyTorch's CPU list; "cuda" the one CUDA, XPU, MPS and XLA share.
LISTS: dict[str, dict[str, str]] = {
    family: {name: policy for policy, names in table.items() for name in names}
    for family, table in (("cpu", _CPU), ("cuda", _CUDA))
}

#: Why a banned operator is refused, and what to use instead.
BANNED_REASON = {
    "binary_cross_entropy": "binary_cross_entropy (nn.BCELoss) is unsafe to autocast: its log can overflow in "
                            "lower precision. Combine the sigmoid and the loss with binary_cross_entropy_with_logits "
                            "(nn.BCEWithLogitsLoss), which is safe, or run it outside the autocast region",
}


def names() -> frozenset:
    """Every name some list mentions."""
    return frozenset(n for table in LISTS.values() for n in table)
