// conv2d forward and backward for small channel counts, float32 and float64, on one thread.
//
// The products run on register tiles written for the cpu's vector width (AVX-512, AVX2 or SSE2, chosen at run
// time; simd.h), one sample at a time, over operands that stay in the first cache levels. K = Cg*KH*KW (a row
// per input channel and kernel position), L = OH*OW:
//   forward      out[n, g] (O/G, L) = W[g] (O/G, K) @ rows(x[n, g]) (K, L) + bias;
//   input grad   with stride 1, the stride-1 convolution of grad with the flipped kernels (in and out channels
//                swapped); else cols (K, L) = W[g]^T @ grad[n, g], added back into the image (col2im);
//   weight grad  gW[g] (O/G, K) = the dot products of grad[:, g]'s rows with rows(x[:, g]) over (n, l).
// The input gradient alone is conv_transpose2d's forward, and the weight gradient alone (grad and input swapped)
// its weight gradient: both are entry points of their own.
// With stride 1 the rows are shifted views of the padded image (see "stride 1" below): nothing is copied;
// otherwise they are columns (im2col). Rows are padded with zeros to a whole number of vectors, so that every
// load and store is a full vector.
#pragma GCC optimize("fp-contract=fast")  // the products' multiply-adds are fused, as in PyTorch's kernels
// short copies and fills (a window row is a few elements) stay inline loops, not calls to memcpy and memset
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#include "simd.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace py = pybind11;
using ssize = py::ssize_t;

namespace ember_simd {

static Isa detect() {
#if EMBER_HAS_ISA_TARGETS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        return kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
#endif
    return kBase;
}

Isa detected() {
    static const Isa isa = detect();
    return isa;
}

static Isa g_level = detected();

Isa level() { return g_level; }

void set_level(Isa isa) { g_level = isa < detected() ? isa : detected(); }

const char* name(Isa isa) { return isa == kAvx512 ? "avx512" : isa == kAvx2 ? "avx2" : "sse2"; }

}  // namespace ember_simd

using namespace ember_simd;

namespace {

constexpr int MR = 4;  // rows of a packed left operand block (broadcast products)

// -- register tiles -------------------------------------------------------------------------------------------

// C[r, 0:NR*VW] = init[r] (or 0) + sum_k A[k*MR + r] * B[boff[k] + 0:NR*VW], for the first mr of MR rows.
template <typename T, int VB, int NR>
EMBER_INLINE void bcast_tile(const T* A, const T* B, const ssize* boff, ssize K, T* C, ssize ldc, int mr,
                             const T* init) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    V acc[MR][NR];
    for (int r = 0; r < MR; ++r) {
        const T s = init ? init[r] : T(0);
        for (int j = 0; j < NR; ++j) acc[r][j] = V{} + s;
    }
    for (ssize k = 0; k < K; ++k, A += MR) {
        const T* Bk = B + boff[k];
        V b[NR];
        for (int j = 0; j < NR; ++j) b[j] = vload<V>(Bk + j * VW);
        for (int r = 0; r < MR; ++r) {
            const T a = A[r];
            for (int j = 0; j < NR; ++j) acc[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < mr; ++r)
        for (int j = 0; j < NR; ++j) vstore(C + r * ldc + j * VW, acc[r][j]);
}

template <typename T, int VB, int NR>
EMBER_INLINE void bcast_rest(int nr, const T* A, const T* B, const ssize* boff, ssize K, T* C, ssize ldc, int mr,
                             const T* init) {
    if constexpr (NR > 1)
        if (nr < NR) return bcast_rest<T, VB, NR - 1>(nr, A, B, boff, K, C, ldc, mr, init);
    bcast_tile<T, VB, NR>(A, B, boff, K, C, ldc, mr, init);
}

// C (M, nvec*VW) = init + A @ B: A packed in blocks of MR rows (block b holds A[b*MR + r, k] at [k*MR + r],
// zero past M); row k of B (nvec*VW elements) starts at B + boff[k]; init (M rounded up to MR) or null.
template <typename T, int VB, int NR>
EMBER_INLINE void bcast_gemm(ssize M, ssize nvec, ssize K, const T* Ap, const T* B, const ssize* boff, T* C,
                             ssize ldc, const T* init) {
    constexpr int VW = VB / sizeof(T);
    for (ssize m0 = 0; m0 < M; m0 += MR) {
        const int mr = int(std::min<ssize>(MR, M - m0));
        const T* A = Ap + m0 * K;
        const T* in = init ? init + m0 : nullptr;
        T* Cm = C + m0 * ldc;
        ssize v = 0;
        for (; v + NR <= nvec; v += NR) bcast_tile<T, VB, NR>(A, B + v * VW, boff, K, Cm + v * VW, ldc, mr, in);
        if (v < nvec) bcast_rest<T, VB, NR>(int(nvec - v), A, B + v * VW, boff, K, Cm + v * VW, ldc, mr, in);
    }
}

// C[r, j] += sum over n < N, l < nvec*VW of A[r*sAo + n*sAn + l] * B[boff[j] + n*sBn + l], r < R, j < S.
template <typename T, int VB, int R, int S>
EMBER_INLINE void dot_tile(const T* A, ssize sAo, ssize sAn, const T* B, const ssize* boff, ssize sBn, ssize N,
                           ssize nvec, T* C, ssize ldc) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    V acc[R][S];
    for (int r = 0; r < R; ++r)
        for (int j = 0; j < S; ++j) acc[r][j] = V{};
    const T* Bj[S];
    for (int j = 0; j < S; ++j) Bj[j] = B + boff[j];
    for (ssize n = 0; n < N; ++n) {
        const T* a = A + n * sAn;
        const ssize bn = n * sBn;
        for (ssize v = 0; v < nvec; ++v) {
            V av[R], bv[S];
            for (int r = 0; r < R; ++r) av[r] = vload<V>(a + r * sAo + v * VW);
            for (int j = 0; j < S; ++j) bv[j] = vload<V>(Bj[j] + bn + v * VW);
            for (int r = 0; r < R; ++r)
                for (int j = 0; j < S; ++j) acc[r][j] += av[r] * bv[j];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int j = 0; j < S; ++j) C[r * ldc + j] += hsum<T>(acc[r][j]);
}

template <typename T, int VB, int R, int S>
EMBER_INLINE void dot_rest(int r, int s, const T* A, ssize sAo, ssize sAn, const T* B, const ssize* boff, ssize sBn,
                           ssize N, ssize nvec, T* C, ssize ldc) {
    if constexpr (R > 1)
        if (r < R) return dot_rest<T, VB, R - 1, S>(r, s, A, sAo, sAn, B, boff, sBn, N, nvec, C, ldc);
    if constexpr (S > 1)
        if (s < S) return dot_rest<T, VB, R, S - 1>(r, s, A, sAo, sAn, B, boff, sBn, N, nvec, C, ldc);
    dot_tile<T, VB, R, S>(A, sAo, sAn, B, boff, sBn, N, nvec, C, ldc);
}

// C (M, KD) += the dot products of A's M rows with B's KD rows, both over (N, nvec*VW): row m of A at
// A + m*sAo + n*sAn, row k of B at B + boff[k] + n*sBn. The loop over B's rows is outside, so that a block of
// them stays in cache while all of A passes.
template <typename T, int VB, int R, int S>
EMBER_INLINE void dot_gemm(ssize M, ssize KD, ssize N, ssize nvec, const T* A, ssize sAo, ssize sAn, const T* B,
                           const ssize* boff, ssize sBn, T* C, ssize ldc) {
    for (ssize k0 = 0; k0 < KD; k0 += S) {
        const int s = int(std::min<ssize>(S, KD - k0));
        for (ssize m0 = 0; m0 < M; m0 += R) {
            const int r = int(std::min<ssize>(R, M - m0));
            dot_rest<T, VB, R, S>(r, s, A + m0 * sAo, sAo, sAn, B, boff + k0, sBn, N, nvec, C + m0 * ldc + k0, ldc);
        }
    }
}

// -- one copy per instruction set ------------------------------------------------------------------------------

template <typename T>
struct Gemm {
    void (*bcast)(ssize, ssize, ssize, const T*, const T*, const ssize*, T*, ssize, const T*);
    void (*dot)(ssize, ssize, ssize, ssize, const T*, ssize, ssize, const T*, const ssize*, ssize, T*, ssize);
    int vw;  // elements per vector: the rows of the right operands are padded to a multiple of it
};

#define EMBER_GEMMS(T, SUFFIX, ATTR, VB, NR, R, S)                                                                 \
    ATTR void bcast_##SUFFIX(ssize M, ssize nvec, ssize K, const T* Ap, const T* B, const ssize* boff, T* C,     \
                             ssize ldc, const T* init) {                                                         \
        bcast_gemm<T, VB, NR>(M, nvec, K, Ap, B, boff, C, ldc, init);                                            \
    }                                                                                                             \
    ATTR void dot_##SUFFIX(ssize M, ssize KD, ssize N, ssize nvec, const T* A, ssize sAo, ssize sAn, const T* B, \
                           const ssize* boff, ssize sBn, T* C, ssize ldc) {                                       \
        dot_gemm<T, VB, R, S>(M, KD, N, nvec, A, sAo, sAn, B, boff, sBn, C, ldc);                                \
    }                                                                                                             \
    const Gemm<T> gemm_##SUFFIX{&bcast_##SUFFIX, &dot_##SUFFIX, int(VB / sizeof(T))};

// accumulators: AVX-512 has 32 vector registers (4x4 tiles), AVX2 and SSE2 16 (4x3 and 3x3)
EMBER_GEMMS(float, avx512_f32, EMBER_AVX512, 64, 4, 4, 4)
EMBER_GEMMS(double, avx512_f64, EMBER_AVX512, 64, 4, 4, 4)
EMBER_GEMMS(float, avx2_f32, EMBER_AVX2, 32, 3, 3, 3)
EMBER_GEMMS(double, avx2_f64, EMBER_AVX2, 32, 3, 3, 3)
EMBER_GEMMS(float, sse2_f32, , 16, 3, 3, 3)
EMBER_GEMMS(double, sse2_f64, , 16, 3, 3, 3)
#undef EMBER_GEMMS

template <typename T>
const Gemm<T>& gemm();

template <>
const Gemm<float>& gemm<float>() {
    const Isa isa = level();
    return isa == kAvx512 ? gemm_avx512_f32 : isa == kAvx2 ? gemm_avx2_f32 : gemm_sse2_f32;
}

template <>
const Gemm<double>& gemm<double>() {
    const Isa isa = level();
    return isa == kAvx512 ? gemm_avx512_f64 : isa == kAvx2 ? gemm_avx2_f64 : gemm_sse2_f64;
}

// -- windows ---------------------------------------------------------------------------------------------------

struct Geo {
    ssize N, C, H, W;       // input
    ssize O, Cg, KH, KW;    // weight
    ssize G;                // groups
    ssize sh, sw, ph, pw, dh, dw;
    ssize OH, OW;
    ssize og() const { return O / G; }
    ssize K() const { return Cg * KH * KW; }
    ssize L() const { return OH * OW; }
};

ssize round_up(ssize a, ssize m) { return (a + m - 1) / m * m; }

// The output columns ow whose input column off + ow*sw lies in [0, W): [lo, hi).
void span(ssize off, ssize sw, ssize W, ssize OW, ssize& lo, ssize& hi) {
    lo = off < 0 ? (-off + sw - 1) / sw : 0;
    hi = W - off > 0 ? (W - off - 1) / sw + 1 : 0;
    lo = std::min(lo, OW);
    hi = std::max(lo, std::min(hi, OW));
}

// dst[(c*KH + i)*KW + j, oh*OW + ow] (row stride ld) = x[c0 + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], 0 in the
// padding; x is one sample (C, H, W). Columns from L on are left alone.
template <typename T>
void im2col_sample(const T* x, const Geo& g, ssize c0, T* dst, ssize ld) {
    for (ssize c = 0; c < g.Cg; ++c) {
        const T* plane = x + (c0 + c) * g.H * g.W;
        for (ssize i = 0; i < g.KH; ++i)
            for (ssize j = 0; j < g.KW; ++j) {
                T* row = dst + ((c * g.KH + i) * g.KW + j) * ld;
                const ssize off = j * g.dw - g.pw;
                ssize lo, hi;
                span(off, g.sw, g.W, g.OW, lo, hi);
                for (ssize oh = 0; oh < g.OH; ++oh, row += g.OW) {
                    const ssize ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H) {
                        for (ssize ow = 0; ow < g.OW; ++ow) row[ow] = T(0);
                        continue;
                    }
                    const T* xr = plane + ih * g.W;
                    for (ssize ow = 0; ow < lo; ++ow) row[ow] = T(0);
                    if (g.sw == 1)
                        for (ssize ow = lo; ow < hi; ++ow) row[ow] = xr[off + ow];
                    else
                        for (ssize ow = lo; ow < hi; ++ow) row[ow] = xr[off + ow * g.sw];
                    for (ssize ow = hi; ow < g.OW; ++ow) row[ow] = T(0);
                }
            }
    }
}

// The adjoint of im2col_sample: x[c0 + c, ...] += the columns in src (row stride ld).
template <typename T>
void col2im_sample(const T* src, ssize ld, const Geo& g, ssize c0, T* x) {
    for (ssize c = 0; c < g.Cg; ++c) {
        T* plane = x + (c0 + c) * g.H * g.W;
        for (ssize i = 0; i < g.KH; ++i)
            for (ssize j = 0; j < g.KW; ++j) {
                const T* row = src + ((c * g.KH + i) * g.KW + j) * ld;
                const ssize off = j * g.dw - g.pw;
                ssize lo, hi;
                span(off, g.sw, g.W, g.OW, lo, hi);
                for (ssize oh = 0; oh < g.OH; ++oh, row += g.OW) {
                    const ssize ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H) continue;
                    T* xr = plane + ih * g.W;
                    if (g.sw == 1)
                        for (ssize ow = lo; ow < hi; ++ow) xr[off + ow] += row[ow];
                    else
                        for (ssize ow = lo; ow < hi; ++ow) xr[off + ow * g.sw] += row[ow];
                }
            }
    }
}

// -- stride 1: shifted rows instead of columns ------------------------------------------------------------------
//
// With stride 1 the column row of kernel position (c, i, j) is the padded image of channel c shifted by
// (i*dh, j*dw). Laid out with a row pitch P = W + pw (the right padding of a row is the left padding of the next),
// output (oh, ow) sits at column oh*P + ow, and the row of (c, i, j) is the contiguous run starting at
// c*CS + i*dh*P + j*dw of the padded image: no columns are copied. The columns with ow >= OW are computed and
// dropped (P - OW of every P).

struct Shifted {
    ssize P, Lqp, nvec, CS;  // row pitch, columns computed (a whole number of vectors), vectors, channel stride
};

Shifted shifted(ssize H, ssize W, ssize ph, ssize pw, ssize OH, ssize OW, int vw) {
    const ssize P = W + pw, Lqp = round_up((OH - 1) * P + OW, vw);
    // the runs end before (H + 2ph)*P + pw + vw: zeros from the image's end to there
    return {P, Lqp, Lqp / vw, round_up((H + 2 * ph) * P + pw + vw, vw)};
}

// copy channels [0, Cn) of one sample (Cn, H, W) into its padded layout (zeros elsewhere, written once)
template <typename T>
void pad_sample(const T* x, ssize Cn, ssize H, ssize W, ssize ph, ssize pw, const Shifted& s, T* xp) {
    for (ssize c = 0; c < Cn; ++c)
        for (ssize ih = 0; ih < H; ++ih) {
            const T* src = x + (c * H + ih) * W;
            T* dst = xp + c * s.CS + (ih + ph) * s.P + pw;
            for (ssize iw = 0; iw < W; ++iw) dst[iw] = src[iw];
        }
}

// offsets of the rows of kernel positions (c, i, j), c < Cn, in a padded sample
std::vector<ssize> shifted_rows(ssize Cn, ssize KH, ssize KW, ssize dh, ssize dw, const Shifted& s) {
    std::vector<ssize> off(Cn * KH * KW);
    for (ssize c = 0; c < Cn; ++c)
        for (ssize i = 0; i < KH; ++i)
            for (ssize j = 0; j < KW; ++j) off[(c * KH + i) * KW + j] = c * s.CS + i * dh * s.P + j * dw;
    return off;
}

// out (N, G*og, OH, OW) = the stride-1 convolution of in (N, G*Cg, H, W) with padding (ph, pw) and dilation
// (dh, dw); wp holds each group's weights (og, Cg*KH*KW) packed in blocks of MR rows (round_up(og, MR) rows per
// group), init each group's bias (round_up(og, MR)) or null.
template <typename T>
void conv_stride1(const Gemm<T>& k, const T* in, ssize N, ssize G, ssize Cg, ssize H, ssize W, const T* wp, ssize og,
                  ssize KH, ssize KW, ssize ph, ssize pw, ssize dh, ssize dw, const T* init, T* out) {
    const ssize OH = H + 2 * ph - (KH - 1) * dh, OW = W + 2 * pw - (KW - 1) * dw;
    const Shifted s = shifted(H, W, ph, pw, OH, OW, k.vw);
    const ssize K = Cg * KH * KW, ogp = round_up(og, MR);
    const std::vector<ssize> rows = shifted_rows(Cg, KH, KW, dh, dw, s);
    std::vector<T> xp(Cg * s.CS, T(0)), cbuf(ogp * s.Lqp);
    for (ssize n = 0; n < N; ++n)
        for (ssize g = 0; g < G; ++g) {
            pad_sample(in + (n * G + g) * Cg * H * W, Cg, H, W, ph, pw, s, xp.data());
            k.bcast(og, s.nvec, K, wp + g * ogp * K, xp.data(), rows.data(), cbuf.data(), s.Lqp,
                    init ? init + g * ogp : nullptr);
            T* dst = out + (n * G + g) * og * OH * OW;
            for (ssize o = 0; o < og; ++o)
                for (ssize oh = 0; oh < OH; ++oh) {
                    const T* src = cbuf.data() + o * s.Lqp + oh * s.P;
                    T* d = dst + (o * OH + oh) * OW;
                    for (ssize ow = 0; ow < OW; ++ow) d[ow] = src[ow];
                }
        }
}

// Ap (blocks of MR rows, zero past M) of the M x K matrix a(m, k)
template <typename T, typename F>
void pack_rows(ssize M, ssize K, F a, T* Ap) {
    for (ssize m = 0; m < M; ++m) {
        T* dst = Ap + (m / MR) * K * MR + m % MR;
        for (ssize kk = 0; kk < K; ++kk) dst[kk * MR] = a(m, kk);
    }
}

template <typename T>
T row_sum(const T* p, ssize n) {
    typedef typename Vec<T, 16>::type V;
    constexpr int VW = 16 / sizeof(T);
    V a = V{}, b = V{};
    ssize i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        a += vload<V>(p + i);
        b += vload<V>(p + i + VW);
    }
    T s = hsum<T>(a + b);
    for (; i < n; ++i) s += p[i];
    return s;
}

template <typename T>
bool all_finite(const T* p, ssize n) {
    typedef typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type U;
    const U e = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
    U bad = 0;
    for (ssize i = 0; i < n; ++i) {
        U u;
        std::memcpy(&u, p + i, sizeof u);
        bad |= U((u & e) == e);
    }
    return !bad;
}

// -- the operators ---------------------------------------------------------------------------------------------

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// The geometry of conv2d of an input (N, C, H, W) with a weight (O, Cg, KH, KW), checked.
Geo make_geo(ssize N, ssize C, ssize H, ssize W, ssize O, ssize Cg, ssize KH, ssize KW, ssize sh, ssize sw, ssize ph,
             ssize pw, ssize dh, ssize dw, ssize groups, const char* what) {
    Geo g{N, C, H, W, O, Cg, KH, KW, groups, sh, sw, ph, pw, dh, dw, 0, 0};
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0 || groups < 1)
        throw py::value_error(std::string(what) + ": strides, dilations and groups must be positive, padding not negative");
    if (g.C != g.Cg * groups || g.O % groups)
        throw py::value_error(std::string(what) + ": the input's " + std::to_string(g.C) + " channels and weight's " +
                              std::to_string(g.O) + " outputs do not fit groups=" + std::to_string(groups));
    const ssize eh = g.H + 2 * ph - dh * (g.KH - 1) - 1, ew = g.W + 2 * pw - dw * (g.KW - 1) - 1;
    if (eh < 0 || ew < 0 || g.KH < 1 || g.KW < 1)
        throw py::value_error(std::string(what) + ": the kernel is larger than the padded input");
    g.OH = eh / sh + 1;
    g.OW = ew / sw + 1;
    return g;
}

Geo geometry(const py::array& x, const py::array& w, ssize sh, ssize sw, ssize ph, ssize pw, ssize dh, ssize dw,
             ssize groups, const char* what) {
    if (x.ndim() != 4 || w.ndim() != 4)
        throw py::value_error(std::string(what) +
                              ": input and weight must be 4-d (N, C, H, W) and (O, C/groups, KH, KW)");
    return make_geo(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(1), w.shape(2), w.shape(3),
                    sh, sw, ph, pw, dh, dw, groups, what);
}

void check_grad_shape(const py::array& grad, const Geo& g, const char* what) {
    if (grad.ndim() != 4 || grad.shape(0) != g.N || grad.shape(1) != g.O || grad.shape(2) != g.OH ||
        grad.shape(3) != g.OW)
        throw py::value_error(std::string(what) + ": grad_output must have the convolution's output shape (" +
                              std::to_string(g.N) + ", " + std::to_string(g.O) + ", " + std::to_string(g.OH) + ", " +
                              std::to_string(g.OW) + ")");
}

template <typename T>
py::array conv2d_forward(CArray<T> x, CArray<T> w, py::object bias_obj, ssize sh, ssize sw, ssize ph, ssize pw,
                         ssize dh, ssize dw, ssize groups) {
    const Geo g = geometry(x, w, sh, sw, ph, pw, dh, dw, groups, "conv2d");
    const bool has_bias = !bias_obj.is_none();
    CArray<T> bias;
    if (has_bias) {
        bias = CArray<T>::ensure(bias_obj);
        if (!bias || bias.ndim() != 1 || bias.shape(0) != g.O)
            throw py::value_error("conv2d: bias must be 1-d with one value per output channel");
    }
    CArray<T> out({g.N, g.O, g.OH, g.OW});
    T* po = out.mutable_data();
    const T* px = x.data();
    const T* pwt = w.data();
    const T* pb = has_bias ? bias.data() : nullptr;
    if (out.size() == 0) return std::move(out);
    {
        py::gil_scoped_release release;
        const Gemm<T>& k = gemm<T>();
        const ssize K = g.K(), og = g.og(), ogp = round_up(og, MR);
        std::vector<T> wp(g.G * ogp * K, T(0)), init(pb ? g.G * ogp : 0, T(0));
        for (ssize gr = 0; gr < g.G; ++gr) {
            const T* wg = pwt + gr * og * K;
            pack_rows(og, K, [&](ssize o, ssize kk) { return wg[o * K + kk]; }, wp.data() + gr * ogp * K);
            if (pb) std::copy(pb + gr * og, pb + (gr + 1) * og, init.data() + gr * ogp);
        }
        if (g.sh == 1 && g.sw == 1) {
            conv_stride1(k, px, g.N, g.G, g.Cg, g.H, g.W, wp.data(), og, g.KH, g.KW, g.ph, g.pw, g.dh, g.dw,
                         pb ? init.data() : nullptr, po);
        } else {
            const ssize L = g.L(), Lp = round_up(L, k.vw), nvec = Lp / k.vw;
            std::vector<T> cols(K * Lp, T(0)), cbuf(ogp * Lp);
            std::vector<ssize> rows(K);
            for (ssize kk = 0; kk < K; ++kk) rows[kk] = kk * Lp;
            for (ssize n = 0; n < g.N; ++n)
                for (ssize gr = 0; gr < g.G; ++gr) {
                    im2col_sample(px + n * g.C * g.H * g.W, g, gr * g.Cg, cols.data(), Lp);
                    k.bcast(og, nvec, K, wp.data() + gr * ogp * K, cols.data(), rows.data(), cbuf.data(), Lp,
                            pb ? init.data() + gr * ogp : nullptr);
                    T* dst = po + (n * g.O + gr * og) * L;
                    for (ssize o = 0; o < og; ++o)
                        std::copy(cbuf.data() + o * Lp, cbuf.data() + o * Lp + L, dst + o * L);
                }
        }
    }
    return std::move(out);
}

// column buffer of the weight gradient with strides: at most this many elements (a block of samples at a time)
constexpr ssize kColsBlock = 1 << 18;

// grad_input through columns: per sample, cols = W[g]^T @ grad[n, g], added back into the image
template <typename T>
void input_grad_columns(const Gemm<T>& k, const Geo& g, const T* grad, const T* w, T* gi) {
    const ssize L = g.L(), Lp = round_up(L, k.vw), nvec = Lp / k.vw, K = g.K(), og = g.og(), Kp = round_up(K, MR);
    std::vector<T> wtp(g.G * Kp * og, T(0)), gbuf(og * Lp, T(0)), cbuf(Kp * Lp);
    for (ssize gr = 0; gr < g.G; ++gr) {
        const T* wg = w + gr * og * K;
        pack_rows(K, og, [&](ssize kk, ssize o) { return wg[o * K + kk]; }, wtp.data() + gr * Kp * og);
    }
    std::vector<ssize> rows(og);
    for (ssize o = 0; o < og; ++o) rows[o] = o * Lp;
    for (ssize n = 0; n < g.N; ++n)
        for (ssize gr = 0; gr < g.G; ++gr) {
            const T* src = grad + (n * g.O + gr * og) * L;
            for (ssize o = 0; o < og; ++o) std::copy(src + o * L, src + (o + 1) * L, gbuf.data() + o * Lp);
            k.bcast(K, nvec, og, wtp.data() + gr * Kp * og, gbuf.data(), rows.data(), cbuf.data(), Lp, nullptr);
            col2im_sample(cbuf.data(), Lp, g, gr * g.Cg, gi + n * g.C * g.H * g.W);
        }
}

// grad_weight through columns: blocks of samples' columns, dot products with grad's rows
template <typename T>
void weight_grad_columns(const Gemm<T>& k, const Geo& g, const T* grad, const T* x, T* gw) {
    const ssize L = g.L(), Lp = round_up(L, k.vw), nvec = Lp / k.vw, K = g.K(), og = g.og(), N = g.N;
    const ssize block = std::max<ssize>(1, std::min<ssize>(N, kColsBlock / (K * Lp)));
    std::vector<T> cols(K * block * Lp, T(0)), gbuf(og * block * Lp, T(0));  // columns past L stay 0
    std::vector<ssize> rows(K);
    for (ssize kk = 0; kk < K; ++kk) rows[kk] = kk * block * Lp;
    for (ssize gr = 0; gr < g.G; ++gr)
        for (ssize n0 = 0; n0 < N; n0 += block) {
            const ssize nb = std::min(block, N - n0);
            for (ssize n = 0; n < nb; ++n) {
                im2col_sample(x + (n0 + n) * g.C * g.H * g.W, g, gr * g.Cg, cols.data() + n * Lp, block * Lp);
                const T* src = grad + ((n0 + n) * g.O + gr * og) * L;
                for (ssize o = 0; o < og; ++o)
                    std::copy(src + o * L, src + (o + 1) * L, gbuf.data() + o * block * Lp + n * Lp);
            }
            k.dot(og, K, nb, nvec, gbuf.data(), block * Lp, Lp, cols.data(), rows.data(), Lp, gw + gr * og * K, K);
        }
}

// grad_weight of a stride-1 convolution: dot products of grad's rows (laid out with the row pitch P, zeros in
// the dropped columns) with the shifted rows of the padded input; false (nothing done) when the input holds an
// inf or NaN, whose product with a dropped column's zero would be NaN, or when a padding wider than the kernel's
// extent makes rows of grad longer than P (OW > P): their last columns would share places with the next row's
// first, and a NaN there would be lost (its products, with padding only, are NaN in PyTorch)
template <typename T>
bool weight_grad_stride1(const Gemm<T>& k, const Geo& g, const T* grad, const T* x, T* gw) {
    if (g.pw > (g.KW - 1) * g.dw || !all_finite(x, g.N * g.C * g.H * g.W)) return false;
    const Shifted s = shifted(g.H, g.W, g.ph, g.pw, g.OH, g.OW, k.vw);
    const ssize K = g.K(), og = g.og(), N = g.N;
    std::vector<T> xp(N * g.C * s.CS, T(0)), gs(g.O * N * s.Lqp, T(0));
    for (ssize n = 0; n < N; ++n) {
        pad_sample(x + n * g.C * g.H * g.W, g.C, g.H, g.W, g.ph, g.pw, s, xp.data() + n * g.C * s.CS);
        for (ssize o = 0; o < g.O; ++o)
            for (ssize oh = 0; oh < g.OH; ++oh) {
                const T* src = grad + ((n * g.O + o) * g.OH + oh) * g.OW;
                T* dst = gs.data() + (o * N + n) * s.Lqp + oh * s.P;
                for (ssize ow = 0; ow < g.OW; ++ow) dst[ow] = src[ow];
            }
    }
    const std::vector<ssize> rows = shifted_rows(g.Cg, g.KH, g.KW, g.dh, g.dw, s);
    for (ssize gr = 0; gr < g.G; ++gr)
        k.dot(og, K, N, s.nvec, gs.data() + gr * og * N * s.Lqp, N * s.Lqp, s.Lqp, xp.data() + gr * g.Cg * s.CS,
              rows.data(), g.C * s.CS, gw + gr * og * K, K);
    return true;
}

// gw (O, Cg, KH, KW) = conv2d's weight gradient for grad (N, O, OH, OW) and input x (N, C, H, W)
template <typename T>
void weight_grad(const Gemm<T>& k, const Geo& g, const T* grad, const T* x, T* gw) {
    std::fill(gw, gw + g.O * g.K(), T(0));
    if (g.N == 0 || g.L() == 0 || g.og() == 0 || g.K() == 0) return;
    if (!(g.sh == 1 && g.sw == 1 && weight_grad_stride1(k, g, grad, x, gw))) weight_grad_columns(k, g, grad, x, gw);
}

// gi (N, C, H, W) = conv2d's input gradient for grad (N, O, OH, OW) and weight w, plus bias (C,) when not null
template <typename T>
void input_grad(const Gemm<T>& k, const Geo& g, const T* grad, const T* w, const T* bias, T* gi) {
    const ssize K = g.K(), og = g.og(), plane = g.H * g.W;
    // with stride 1 and padding within the kernel's extent: the stride-1 convolution of grad with the flipped
    // kernels, channels in and out swapped, padded by the extent less the padding (finite weights only: an inf
    // times the zeros around grad would be a NaN where PyTorch has none)
    const ssize eh = (g.KH - 1) * g.dh - g.ph, ew = (g.KW - 1) * g.dw - g.pw;
    const bool work = g.N > 0 && g.L() > 0 && og > 0 && K > 0;
    if (work && g.sh == 1 && g.sw == 1 && eh >= 0 && ew >= 0 && all_finite(w, g.O * K)) {
        const ssize Kt = og * g.KH * g.KW, cgp = round_up(g.Cg, MR);
        std::vector<T> wp(g.G * cgp * Kt, T(0)), init(bias ? g.G * cgp : 0, T(0));
        for (ssize gr = 0; gr < g.G; ++gr) {
            const T* wg = w + gr * og * K;
            pack_rows(g.Cg, Kt, [&](ssize c, ssize t) {
                const ssize o = t / (g.KH * g.KW), i = t / g.KW % g.KH, j = t % g.KW;
                return wg[((o * g.Cg + c) * g.KH + (g.KH - 1 - i)) * g.KW + (g.KW - 1 - j)];
            }, wp.data() + gr * cgp * Kt);
            if (bias) std::copy(bias + gr * g.Cg, bias + (gr + 1) * g.Cg, init.data() + gr * cgp);
        }
        conv_stride1(k, grad, g.N, g.G, og, g.OH, g.OW, wp.data(), g.Cg, g.KH, g.KW, eh, ew, g.dh, g.dw,
                     bias ? init.data() : nullptr, gi);
        return;
    }
    for (ssize n = 0; n < g.N; ++n)
        for (ssize c = 0; c < g.C; ++c) {
            T* p = gi + (n * g.C + c) * plane;
            std::fill(p, p + plane, bias ? bias[c] : T(0));
        }
    if (work) input_grad_columns(k, g, grad, w, gi);
}

template <typename T>
py::tuple conv2d_backward(CArray<T> grad, CArray<T> x, CArray<T> w, ssize sh, ssize sw, ssize ph, ssize pw, ssize dh,
                          ssize dw, ssize groups) {
    const Geo g = geometry(x, w, sh, sw, ph, pw, dh, dw, groups, "conv2d_backward");
    check_grad_shape(grad, g, "conv2d_backward");
    CArray<T> gi({g.N, g.C, g.H, g.W}), gw({g.O, g.Cg, g.KH, g.KW}), gb({g.O});
    T* pgi = gi.mutable_data();
    T* pgw = gw.mutable_data();
    T* pgb = gb.mutable_data();
    const T* pg = grad.data();
    const T* px = x.data();
    const T* pwt = w.data();
    {
        py::gil_scoped_release release;
        const Gemm<T>& k = gemm<T>();
        const ssize L = g.L();
        weight_grad(k, g, pg, px, pgw);
        input_grad(k, g, pg, pwt, (const T*)nullptr, pgi);
        // bias gradient
        for (ssize o = 0; o < g.O; ++o) {
            double s = 0;
            for (ssize n = 0; n < g.N; ++n) s += double(row_sum(pg + (n * g.O + o) * L, L));
            pgb[o] = T(s);
        }
    }
    return py::make_tuple(std::move(gi), std::move(gw), std::move(gb));
}

// conv2d's input gradient alone (conv_transpose2d's forward): grad (N, O, OH, OW), weight (O, Cg, KH, KW), the
// input's size (H, W) and optional bias (Cg*groups,) added to it
template <typename T>
py::array conv2d_input_grad(CArray<T> grad, CArray<T> w, py::object bias_obj, ssize H, ssize W, ssize sh, ssize sw,
                            ssize ph, ssize pw, ssize dh, ssize dw, ssize groups) {
    if (grad.ndim() != 4 || w.ndim() != 4)
        throw py::value_error("conv2d_input_grad: grad_output and weight must be 4-d (N, O, OH, OW) and "
                              "(O, C/groups, KH, KW)");
    const Geo g = make_geo(grad.shape(0), w.shape(1) * groups, H, W, w.shape(0), w.shape(1), w.shape(2), w.shape(3),
                           sh, sw, ph, pw, dh, dw, groups, "conv2d_input_grad");
    check_grad_shape(grad, g, "conv2d_input_grad");
    const bool has_bias = !bias_obj.is_none();
    CArray<T> bias;
    if (has_bias) {
        bias = CArray<T>::ensure(bias_obj);
        if (!bias || bias.ndim() != 1 || bias.shape(0) != g.C)
            throw py::value_error("conv2d_input_grad: bias must be 1-d with one value per input channel");
    }
    CArray<T> gi({g.N, g.C, g.H, g.W});
    T* pgi = gi.mutable_data();
    const T* pg = grad.data();
    const T* pwt = w.data();
    const T* pb = has_bias ? bias.data() : nullptr;
    {
        py::gil_scoped_release release;
        input_grad(gemm<T>(), g, pg, pwt, pb, pgi);
    }
    return std::move(gi);
}

// conv2d's weight gradient alone (conv_transpose2d's, with its grad and input swapped): grad (N, O, OH, OW),
// x (N, C, H, W), the kernel's size (KH, KW)
template <typename T>
py::array conv2d_weight_grad(CArray<T> grad, CArray<T> x, ssize KH, ssize KW, ssize sh, ssize sw, ssize ph, ssize pw,
                             ssize dh, ssize dw, ssize groups) {
    if (grad.ndim() != 4 || x.ndim() != 4)
        throw py::value_error("conv2d_weight_grad: grad_output and input must be 4-d (N, O, OH, OW) and (N, C, H, W)");
    if (groups < 1 || x.shape(1) % groups)
        throw py::value_error("conv2d_weight_grad: the input's channels must be divisible by groups=" +
                              std::to_string(groups));
    const Geo g = make_geo(x.shape(0), x.shape(1), x.shape(2), x.shape(3), grad.shape(1), x.shape(1) / groups, KH, KW,
                           sh, sw, ph, pw, dh, dw, groups, "conv2d_weight_grad");
    check_grad_shape(grad, g, "conv2d_weight_grad");
    CArray<T> gw({g.O, g.Cg, g.KH, g.KW});
    T* pgw = gw.mutable_data();
    const T* pg = grad.data();
    const T* px = x.data();
    {
        py::gil_scoped_release release;
        weight_grad(gemm<T>(), g, pg, px, pgw);
    }
    return std::move(gw);
}

}  // namespace

void register_conv(py::module_& m) {
    const char* fwd_doc =
        "conv2d of x (N, C, H, W) with weight (O, C/groups, KH, KW) and bias (O,) or None: (N, O, OH, OW). "
        "Register-tiled products for small channel counts; the arguments after bias are sh, sw, ph, pw, dh, dw, "
        "groups.";
    const char* bwd_doc =
        "(grad_input, grad_weight, grad_bias) of conv2d for grad_output (N, O, OH, OW), input x and weight; the "
        "arguments after weight are sh, sw, ph, pw, dh, dw, groups.";
    m.def("conv2d_f32", &conv2d_forward<float>, fwd_doc);
    m.def("conv2d_f64", &conv2d_forward<double>, fwd_doc);
    m.def("conv2d_backward_f32", &conv2d_backward<float>, bwd_doc);
    m.def("conv2d_backward_f64", &conv2d_backward<double>, bwd_doc);
    const char* igrad_doc =
        "conv2d's input gradient (N, C, H, W) for grad_output (N, O, OH, OW), weight (O, C/groups, KH, KW) and bias "
        "(C,) or None added to it (conv_transpose2d's forward); the arguments after bias are H, W, sh, sw, ph, pw, "
        "dh, dw, groups.";
    const char* wgrad_doc =
        "conv2d's weight gradient (O, C/groups, KH, KW) for grad_output (N, O, OH, OW) and input x (N, C, H, W); the "
        "arguments after x are KH, KW, sh, sw, ph, pw, dh, dw, groups.";
    m.def("conv2d_input_grad_f32", &conv2d_input_grad<float>, igrad_doc);
    m.def("conv2d_input_grad_f64", &conv2d_input_grad<double>, igrad_doc);
    m.def("conv2d_weight_grad_f32", &conv2d_weight_grad<float>, wgrad_doc);
    m.def("conv2d_weight_grad_f64", &conv2d_weight_grad<double>, wgrad_doc);
    m.def(
        "simd_level",
        [](py::object set) {
            if (!set.is_none()) {
                const std::string s = set.cast<std::string>();
                if (s != "avx512" && s != "avx2" && s != "sse2")
                    throw py::value_error("simd_level: expected 'avx512', 'avx2' or 'sse2', got '" + s + "'");
                set_level(s == "avx512" ? kAvx512 : s == "avx2" ? kAvx2 : kBase);
            }
            return py::make_tuple(name(level()), name(detected()));
        },
        py::arg("set") = py::none(),
        "(in use, widest available) instruction sets of the vector kernels; set lowers the one in use "
        "(clamped to what the cpu has), for tests of every code path.");
}
