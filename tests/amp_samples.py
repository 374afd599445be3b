"""One call per name of the autocast tables, written once for ember and torch (``L`` is the library,
``T`` makes its tensors from shared numpy data), so that tests/test_amp.py can compare the dtype and
values each computes in under autocast."""

from __future__ import annotations

import numpy as np

_F = {"f": np.float32, "b": np.float32, "l": np.int64}


class Maker:
    """``T(shape, kind)``: a tensor of library ``L`` from the next numpy draw; kind 'f' float32,
    'b' bfloat16, 'l' int64 in [0, high), 'p' positive float32, 'B' positive bfloat16."""

    def __init__(self, L, seed=0):
        self.L, self.rng = L, np.random.default_rng(seed)

    def __call__(self, shape, kind="f", high=3, requires_grad=False):
        if kind == "l":
            a = self.rng.integers(0, high, size=shape).astype(np.int64)
        elif kind in "pB":
            a = self.rng.uniform(0.2, 1.0, size=shape).astype(np.float32)
        else:
            a = self.rng.standard_normal(shape).astype(np.float32)
        return self.const(a, kind, requires_grad)

    def const(self, a, kind="f", requires_grad=False):
        L = self.L
        t = L.tensor(a)
        if kind in "bB":
            t = t.to(L.bfloat16)
        return t.requires_grad_() if requires_grad else t


def F(L):
    return L.nn.functional


def _spd(T, kind):
    return T.const(np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]], np.float32), kind)


def _ctc(L, T):
    lp = F(L).log_softmax(T((6, 2, 4), "b"), 2)
    tg = T.const(np.array([[1, 2], [3, 1]], np.int64), "l")
    return F(L).ctc_loss(lp, tg, T.const(np.array([6, 6]), "l"), T.const(np.array([2, 2]), "l"))


def _mlm(L, T):
    tg = T.const(np.array([[1, 0, -1, 0], [2, -1, 0, 0]], np.int64), "l")
    return F(L).multilabel_margin_loss(T((2, 4), "b"), tg)


#: name in ember.amp.tables -> call(L, T). Inputs are float32 where the policy lowers precision and
#: bfloat16 where it raises it, so that a missing or wrong cast shows in the result's dtype.
SAMPLES = {
    # lower precision
    "conv1d": lambda L, T: F(L).conv1d(T((2, 3, 8)), T((4, 3, 3)), T((4,))),
    "conv2d": lambda L, T: F(L).conv2d(T((2, 3, 6, 6)), T((4, 3, 3, 3)), T((4,))),
    "F.conv3d": lambda L, T: F(L).conv3d(T((1, 2, 4, 4, 4)), T((3, 2, 2, 2, 2)), T((3,))),
    "F.conv_transpose1d": lambda L, T: F(L).conv_transpose1d(T((2, 3, 5)), T((3, 4, 3)), T((4,))),
    "F.conv_transpose2d": lambda L, T: F(L).conv_transpose2d(T((1, 3, 4, 4)), T((3, 2, 3, 3)), T((2,))),
    "F.conv_transpose3d": lambda L, T: F(L).conv_transpose3d(T((1, 2, 3, 3, 3)), T((2, 2, 2, 2, 2)), T((2,))),
    "F.prelu": lambda L, T: F(L).prelu(T((2, 3, 4)), T((3,))),
    "F.linear": lambda L, T: F(L).linear(T((4, 5)), T((3, 5)), T((3,))),
    "bmm": lambda L, T: L.bmm(T((2, 3, 4)), T((2, 4, 5))),
    "mm": lambda L, T: L.mm(T((3, 4)), T((4, 5))),
    "matmul": lambda L, T: L.matmul(T((2, 3, 4)), T((4, 5))),
    "addmm": lambda L, T: L.addmm(T((5,)), T((3, 4)), T((4, 5))),
    "baddbmm": lambda L, T: L.baddbmm(T((2, 3, 5)), T((2, 3, 4)), T((2, 4, 5))),
    "addbmm": lambda L, T: L.addbmm(T((3, 5)), T((2, 3, 4)), T((2, 4, 5))),
    "addmv": lambda L, T: L.addmv(T((3,)), T((3, 4)), T((4,))),
    "addr": lambda L, T: L.addr(T((3, 4)), T((3,)), T((4,))),
    "mv": lambda L, T: L.mv(T((3, 4)), T((4,))),
    "einsum": lambda L, T: L.einsum("ij,jk->ik", T((3, 4)), T((4, 2))),
    "scaled_dot_product_attention": lambda L, T: F(L).scaled_dot_product_attention(
        T((1, 2, 4, 8)), T((1, 2, 4, 8)), T((1, 2, 4, 8))),
    "F.scaled_dot_product_attention": lambda L, T: F(L).scaled_dot_product_attention(
        T((2, 3, 8)), T((2, 3, 8)), T((2, 3, 8)), is_causal=True),
    # float32
    "binary_cross_entropy": lambda L, T: F(L).binary_cross_entropy(T((4, 3), "B"), T((4, 3), "B")),
    "binary_cross_entropy_with_logits": lambda L, T: F(L).binary_cross_entropy_with_logits(T((4, 3), "b"),
                                                                                          T((4, 3), "B")),
    "cross_entropy": lambda L, T: F(L).cross_entropy(T((4, 5), "b"), T((4,), "l", 5)),
    "nll_loss": lambda L, T: F(L).nll_loss(T((4, 5), "b"), T((4,), "l", 5)),
    "mse_loss": lambda L, T: F(L).mse_loss(T((4, 3), "b"), T((4, 3), "b")),
    "l1_loss": lambda L, T: F(L).l1_loss(T((4, 3), "b"), T((4, 3), "b")),
    "F.smooth_l1_loss": lambda L, T: F(L).smooth_l1_loss(T((4, 3), "b"), T((4, 3), "b")),
    "F.huber_loss": lambda L, T: F(L).huber_loss(T((4, 3), "b"), T((4, 3), "b")),
    "F.kl_div": lambda L, T: F(L).kl_div(T((4, 3), "b"), T((4, 3), "B"), reduction="batchmean"),
    "F.poisson_nll_loss": lambda L, T: F(L).poisson_nll_loss(T((4, 3), "b"), T((4, 3), "B")),
    "F.cosine_embedding_loss": lambda L, T: F(L).cosine_embedding_loss(
        T((4, 3), "b"), T((4, 3), "b"), T.const(np.array([1.0, -1.0, 1.0, -1.0], np.float32))),
    "F.hinge_embedding_loss": lambda L, T: F(L).hinge_embedding_loss(
        T((4,), "b"), T.const(np.array([1.0, -1.0, 1.0, -1.0], np.float32), "b")),
    "F.margin_ranking_loss": lambda L, T: F(L).margin_ranking_loss(
        T((4,), "b"), T((4,), "b"), T.const(np.array([1.0, -1.0, 1.0, -1.0], np.float32), "b")),
    "F.soft_margin_loss": lambda L, T: F(L).soft_margin_loss(
        T((4,), "b"), T.const(np.array([1.0, -1.0, 1.0, -1.0], np.float32), "b")),
    "F.triplet_margin_loss": lambda L, T: F(L).triplet_margin_loss(T((4, 3), "b"), T((4, 3), "b"), T((4, 3), "b")),
    "F.multi_margin_loss": lambda L, T: F(L).multi_margin_loss(T((4, 5), "b"), T((4,), "l", 5)),
    "F.multilabel_margin_loss": _mlm,
    "F.ctc_loss": _ctc,
    "prod": lambda L, T: L.prod(T((3, 4), "b"), 1),
    "quantile": lambda L, T: L.quantile(T((8,), "b"), 0.3),
    "nanquantile": lambda L, T: L.nanquantile(T((8,), "b"), 0.7),
    "cdist": lambda L, T: L.cdist(T((3, 4), "b"), T((2, 4), "b")),
    "trace": lambda L, T: L.trace(T((3, 3), "b")),
    "polar": lambda L, T: L.polar(T((3,), "B"), T((3,), "b")),
    "view_as_complex": lambda L, T: L.view_as_complex(T((3, 2), "b")),
    "F.avg_pool3d": lambda L, T: F(L).avg_pool3d(T((1, 2, 4, 4, 4), "b"), 2),
    "F.max_pool3d": lambda L, T: F(L).max_pool3d(T((1, 2, 4, 4, 4), "b"), 2),
    "F.adaptive_avg_pool3d": lambda L, T: F(L).adaptive_avg_pool3d(T((1, 2, 4, 4, 4), "b"), 2),
    "F.adaptive_max_pool3d": lambda L, T: F(L).adaptive_max_pool3d(T((1, 2, 4, 4, 4), "b"), 2),
    "F.grid_sample": lambda L, T: F(L).grid_sample(T((1, 2, 4, 4), "b"), T((1, 3, 3, 2), "b").tanh(),
                                                   align_corners=False),
    "fft.fft": lambda L, T: L.fft.fft(T((8,), "b")),
    "fft.ifft": lambda L, T: L.fft.ifft(T((8,), "b")),
    "fft.rfft": lambda L, T: L.fft.rfft(T((8,), "b")),
    "fft.irfft": lambda L, T: L.fft.irfft(T((5,), "b")),
    "fft.hfft": lambda L, T: L.fft.hfft(T((5,), "b")),
    "fft.ihfft": lambda L, T: L.fft.ihfft(T((8,), "b")),
    "fft.fftn": lambda L, T: L.fft.fftn(T((4, 4), "b")),
    "fft.ifftn": lambda L, T: L.fft.ifftn(T((4, 4), "b")),
    "fft.fft2": lambda L, T: L.fft.fft2(T((4, 4), "b")),
    "fft.ifft2": lambda L, T: L.fft.ifft2(T((4, 4), "b")),
    "fft.rfftn": lambda L, T: L.fft.rfftn(T((4, 4), "b")),
    "fft.irfftn": lambda L, T: L.fft.irfftn(T((4, 3), "b")),
    "fft.rfft2": lambda L, T: L.fft.rfft2(T((4, 4), "b")),
    "fft.irfft2": lambda L, T: L.fft.irfft2(T((4, 3), "b")),
    "linalg.cholesky": lambda L, T: L.linalg.cholesky(_spd(T, "b")),
    "linalg.cholesky_ex": lambda L, T: L.linalg.cholesky_ex(_spd(T, "b"))[0],
    "linalg.inv": lambda L, T: L.linalg.inv(_spd(T, "b")),
    "linalg.inv_ex": lambda L, T: L.linalg.inv_ex(_spd(T, "b"))[0],
    "linalg.qr": lambda L, T: L.linalg.qr(_spd(T, "b"))[1].abs(),
    "linalg.svd": lambda L, T: L.linalg.svd(_spd(T, "b"))[1],
    "linalg.svdvals": lambda L, T: L.linalg.svdvals(_spd(T, "b")),
    "linalg.eigh": lambda L, T: L.linalg.eigh(_spd(T, "b"))[0],
    "linalg.eigvalsh": lambda L, T: L.linalg.eigvalsh(_spd(T, "b")),
    "linalg.solve": lambda L, T: L.linalg.solve(_spd(T, "b"), T((3, 2), "b")),
    "linalg.lstsq": lambda L, T: L.linalg.lstsq(_spd(T, "b"), T((3, 2), "b"))[0],
    "linalg.matrix_rank": lambda L, T: L.linalg.matrix_rank(_spd(T, "b")),
    "linalg.householder_product": lambda L, T: L.linalg.householder_product(T((4, 3), "b"), T((2,), "b")),
    "linalg.pinverse": lambda L, T: L.pinverse(_spd(T, "b")),
    # promote
    "cat": lambda L, T: L.cat([T((2, 3), "b"), T((2, 3))]),
    "stack": lambda L, T: L.stack([T((2, 3), "b"), T((2, 3))]),
    "index_copy": lambda L, T: L.index_copy(T((4, 3), "b"), 0, T.const(np.array([0, 2]), "l"), T((2, 3))),
}

#: Operators no CPU list names: autocast leaves them alone (their result keeps the input's dtype).
UNLISTED_CPU = {
    "softmax": lambda L, T: T((3, 4), "b").softmax(1),
    "log_softmax": lambda L, T: F(L).log_softmax(T((3, 4), "b"), 1),
    "sum": lambda L, T: T((3, 4), "b").sum(),
    "exp": lambda L, T: T((3, 4), "b").exp(),
    "layer_norm": lambda L, T: F(L).layer_norm(T((3, 4), "b"), (4,)),
    "relu": lambda L, T: F(L).relu(T((3, 4))),
    "add": lambda L, T: T((3, 4), "b") + T((3, 4)),
    "mm_int": lambda L, T: L.mm(T((2, 3), "l"), T((3, 2), "l")),
    "mm_double": lambda L, T: L.mm(T((2, 3)).double(), T((3, 2)).double()),
}
