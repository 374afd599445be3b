// Batch normalization (training: the batch's statistics, and those alone for the running buffers), max pooling
// with indices, and the Adam/AdamW update, each one pass (or three, for the statistics) over contiguous data.
//
// Batch norm and Adam run in vector registers of the cpu's width (simd.h); statistics are summed per (sample,
// channel) plane in the input's dtype and across planes in double.
#pragma GCC optimize("no-math-errno")  // sqrt in vector registers (no code here reads errno)

#include "simd.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace py = pybind11;
using ssize = py::ssize_t;
using namespace ember_simd;

namespace {

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// -- batch norm ------------------------------------------------------------------------------------------------

// sum of p[0:M] and of (p[i] - c)^2
template <typename T, int VB>
EMBER_INLINE T vsum(const T* p, ssize M) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    V a = V{}, b = V{};
    ssize i = 0;
    for (; i + 2 * VW <= M; i += 2 * VW) {
        a += vload<V>(p + i);
        b += vload<V>(p + i + VW);
    }
    if (i + VW <= M) {
        a += vload<V>(p + i);
        i += VW;
    }
    T s = hsum<T>(a + b);
    for (; i < M; ++i) s += p[i];
    return s;
}

// per channel: mean and biased variance of x (N, C, M), two passes
template <typename T, int VB>
EMBER_INLINE void bn_stats(const T* x, ssize N, ssize C, ssize M, double* mean, double* var) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    const double cnt = double(N * M);
    for (ssize c = 0; c < C; ++c) {
        double s = 0;
        for (ssize n = 0; n < N; ++n) s += double(vsum<T, VB>(x + (n * C + c) * M, M));
        const double m = s / cnt;
        const T mt = T(m);
        double q = 0, d = 0;  // sum (x - mt)^2 and sum (x - mt): the second corrects for mt's rounding
        for (ssize n = 0; n < N; ++n) {
            const T* p = x + (n * C + c) * M;
            V a = V{}, e = V{};
            ssize i = 0;
            for (; i + VW <= M; i += VW) {
                const V t = vload<V>(p + i) - mt;
                a += t * t;
                e += t;
            }
            T sa = hsum<T>(a), se = hsum<T>(e);
            for (; i < M; ++i) {
                const T t = p[i] - mt;
                sa += t * t;
                se += t;
            }
            q += double(sa);
            d += double(se);
        }
        mean[c] = double(mt) + d / cnt;
        var[c] = std::max(0.0, q / cnt - (d / cnt) * (d / cnt));
    }
}

// out = (x - mean) * scale + shift, per channel
template <typename T, int VB>
EMBER_INLINE void bn_apply(const T* x, ssize N, ssize C, ssize M, const T* mean, const T* scale, const T* shift,
                           T* out) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    for (ssize n = 0; n < N; ++n)
        for (ssize c = 0; c < C; ++c) {
            const T* p = x + (n * C + c) * M;
            T* o = out + (n * C + c) * M;
            const T m = mean[c], a = scale[c], b = shift[c];
            ssize i = 0;
            for (; i + VW <= M; i += VW) vstore(o + i, (vload<V>(p + i) - m) * a + b);
            for (; i < M; ++i) o[i] = (p[i] - m) * a + b;
        }
}

// per channel: sum of g and of g * (x - mean)
template <typename T, int VB>
EMBER_INLINE void bn_grad_sums(const T* g, const T* x, ssize N, ssize C, ssize M, const T* mean, double* sg,
                               double* sgx) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    for (ssize c = 0; c < C; ++c) {
        double s1 = 0, s2 = 0;
        const T m = mean[c];
        for (ssize n = 0; n < N; ++n) {
            const T* pg = g + (n * C + c) * M;
            const T* px = x + (n * C + c) * M;
            V a = V{}, b = V{};
            ssize i = 0;
            for (; i + VW <= M; i += VW) {
                const V gv = vload<V>(pg + i);
                a += gv;
                b += gv * (vload<V>(px + i) - m);
            }
            T ta = hsum<T>(a), tb = hsum<T>(b);
            for (; i < M; ++i) {
                ta += pg[i];
                tb += pg[i] * (px[i] - m);
            }
            s1 += double(ta);
            s2 += double(tb);
        }
        sg[c] = s1;
        sgx[c] = s2;
    }
}

// gi = a * g + b * (x - mean) + c, per channel
template <typename T, int VB>
EMBER_INLINE void bn_grad_input(const T* g, const T* x, ssize N, ssize C, ssize M, const T* mean, const T* ca,
                                const T* cb, const T* cc, T* gi) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    for (ssize n = 0; n < N; ++n)
        for (ssize c = 0; c < C; ++c) {
            const T* pg = g + (n * C + c) * M;
            const T* px = x + (n * C + c) * M;
            T* o = gi + (n * C + c) * M;
            const T m = mean[c], a = ca[c], b = cb[c], k = cc[c];
            ssize i = 0;
            for (; i + VW <= M; i += VW) vstore(o + i, vload<V>(pg + i) * a + (vload<V>(px + i) - m) * b + k);
            for (; i < M; ++i) o[i] = pg[i] * a + (px[i] - m) * b + k;
        }
}

template <typename T>
struct BnKernels {
    void (*stats)(const T*, ssize, ssize, ssize, double*, double*);
    void (*apply)(const T*, ssize, ssize, ssize, const T*, const T*, const T*, T*);
    void (*grad_sums)(const T*, const T*, ssize, ssize, ssize, const T*, double*, double*);
    void (*grad_input)(const T*, const T*, ssize, ssize, ssize, const T*, const T*, const T*, const T*, T*);
};

#define EMBER_BN(T, SUFFIX, ATTR, VB)                                                                             \
    ATTR void bn_stats_##SUFFIX(const T* x, ssize N, ssize C, ssize M, double* mean, double* var) {              \
        bn_stats<T, VB>(x, N, C, M, mean, var);                                                                  \
    }                                                                                                             \
    ATTR void bn_apply_##SUFFIX(const T* x, ssize N, ssize C, ssize M, const T* mean, const T* scale,            \
                                const T* shift, T* out) {                                                         \
        bn_apply<T, VB>(x, N, C, M, mean, scale, shift, out);                                                    \
    }                                                                                                             \
    ATTR void bn_grad_sums_##SUFFIX(const T* g, const T* x, ssize N, ssize C, ssize M, const T* mean, double* sg, \
                                    double* sgx) {                                                                \
        bn_grad_sums<T, VB>(g, x, N, C, M, mean, sg, sgx);                                                       \
    }                                                                                                             \
    ATTR void bn_grad_input_##SUFFIX(const T* g, const T* x, ssize N, ssize C, ssize M, const T* mean,           \
                                     const T* ca, const T* cb, const T* cc, T* gi) {                              \
        bn_grad_input<T, VB>(g, x, N, C, M, mean, ca, cb, cc, gi);                                               \
    }                                                                                                             \
    const BnKernels<T> bn_##SUFFIX{&bn_stats_##SUFFIX, &bn_apply_##SUFFIX, &bn_grad_sums_##SUFFIX,               \
                                   &bn_grad_input_##SUFFIX};

EMBER_BN(float, avx512_f32, EMBER_AVX512, 64)
EMBER_BN(double, avx512_f64, EMBER_AVX512, 64)
EMBER_BN(float, avx2_f32, EMBER_AVX2, 32)
EMBER_BN(double, avx2_f64, EMBER_AVX2, 32)
EMBER_BN(float, sse2_f32, , 16)
EMBER_BN(double, sse2_f64, , 16)
#undef EMBER_BN

template <typename T>
const BnKernels<T>& bn_kernels();

template <>
const BnKernels<float>& bn_kernels<float>() {
    const Isa isa = level();
    return isa == kAvx512 ? bn_avx512_f32 : isa == kAvx2 ? bn_avx2_f32 : bn_sse2_f32;
}

template <>
const BnKernels<double>& bn_kernels<double>() {
    const Isa isa = level();
    return isa == kAvx512 ? bn_avx512_f64 : isa == kAvx2 ? bn_avx2_f64 : bn_sse2_f64;
}

struct Planes {
    ssize N, C, M;
};

Planes planes(const py::array& x, const char* what) {
    if (x.ndim() < 2) throw py::value_error(std::string(what) + ": the input must have at least 2 dims (N, C, ...)");
    ssize M = 1;
    for (ssize d = 2; d < x.ndim(); ++d) M *= x.shape(d);
    return {x.shape(0), x.shape(1), M};
}

template <typename T>
CArray<T> per_channel(const py::object& t, ssize C, const char* what, const char* arg) {
    CArray<T> a = CArray<T>::ensure(t);
    if (!a || a.ndim() != 1 || a.shape(0) != C)
        throw py::value_error(std::string(what) + ": " + arg + " must be 1-d with one value per channel (" +
                              std::to_string(C) + ")");
    return a;
}

template <typename T>
py::array batch_norm_train(CArray<T> x, py::object weight, py::object bias, double eps) {
    const Planes s = planes(x, "batch_norm_train");
    const bool hw = !weight.is_none(), hb = !bias.is_none();
    CArray<T> w, b;
    if (hw) w = per_channel<T>(weight, s.C, "batch_norm_train", "weight");
    if (hb) b = per_channel<T>(bias, s.C, "batch_norm_train", "bias");
    std::vector<ssize> shape(x.shape(), x.shape() + x.ndim());
    CArray<T> out(shape);
    const T* px = x.data();
    const T* pw = hw ? w.data() : nullptr;
    const T* pb = hb ? b.data() : nullptr;
    T* po = out.mutable_data();
    if (out.size() == 0) return std::move(out);
    {
        py::gil_scoped_release release;
        const BnKernels<T>& k = bn_kernels<T>();
        std::vector<double> mean(s.C), var(s.C);
        k.stats(px, s.N, s.C, s.M, mean.data(), var.data());
        std::vector<T> m(s.C), scale(s.C), shift(s.C);
        for (ssize c = 0; c < s.C; ++c) {
            // (x - mean) * scale + bias, with the mean rounded to T and the rounding moved into the shift
            const double rstd = 1.0 / std::sqrt(var[c] + eps), a = pw ? rstd * double(pw[c]) : rstd;
            m[c] = T(mean[c]);
            scale[c] = T(a);
            shift[c] = T((pb ? double(pb[c]) : 0.0) - (mean[c] - double(m[c])) * a);
        }
        k.apply(px, s.N, s.C, s.M, m.data(), scale.data(), shift.data(), po);
    }
    return std::move(out);
}

template <typename T>
py::tuple batch_norm_train_backward(CArray<T> grad, CArray<T> x, py::object weight, double eps) {
    const Planes s = planes(x, "batch_norm_train_backward");
    if (grad.ndim() != x.ndim() || !std::equal(x.shape(), x.shape() + x.ndim(), grad.shape()))
        throw py::value_error("batch_norm_train_backward: grad_output must have the input's shape");
    const bool hw = !weight.is_none();
    CArray<T> w;
    if (hw) w = per_channel<T>(weight, s.C, "batch_norm_train_backward", "weight");
    std::vector<ssize> shape(x.shape(), x.shape() + x.ndim());
    CArray<T> gi(shape), gw({s.C}), gb({s.C});
    const T* pg = grad.data();
    const T* px = x.data();
    const T* pw = hw ? w.data() : nullptr;
    T* pgi = gi.mutable_data();
    T* pgw = gw.mutable_data();
    T* pgb = gb.mutable_data();
    {
        py::gil_scoped_release release;
        const BnKernels<T>& k = bn_kernels<T>();
        std::vector<double> mean(s.C), var(s.C), sg(s.C), sgx(s.C);
        std::vector<T> m(s.C), ca(s.C), cb(s.C), cc(s.C);
        const ssize cnt = s.N * s.M;
        if (cnt > 0) {
            k.stats(px, s.N, s.C, s.M, mean.data(), var.data());
            for (ssize c = 0; c < s.C; ++c) m[c] = T(mean[c]);
            k.grad_sums(pg, px, s.N, s.C, s.M, m.data(), sg.data(), sgx.data());
        }
        for (ssize c = 0; c < s.C; ++c) {
            const double rstd = 1.0 / std::sqrt(var[c] + eps);
            const double scale = pw ? rstd * double(pw[c]) : rstd;
            const double dm = mean[c] - double(m[c]);  // the mean's rounding to T: the sums ran around m
            const double sgxm = sgx[c] - dm * sg[c];     // sum(g * (x - mean))
            // gi = scale * (g - sum(g)/n - xhat * sum(g * xhat)/n), xhat = (x - mean) * rstd, as
            // a*g + b*(x - m) + c
            const double b = cnt ? -scale * rstd * rstd * sgxm / double(cnt) : 0.0;
            ca[c] = T(scale);
            cb[c] = T(b);
            cc[c] = T((cnt ? -scale * sg[c] / double(cnt) : 0.0) - b * dm);
            pgw[c] = T(sgxm * rstd);
            pgb[c] = T(sg[c]);
        }
        if (cnt > 0) k.grad_input(pg, px, s.N, s.C, s.M, m.data(), ca.data(), cb.data(), cc.data(), pgi);
    }
    return py::make_tuple(std::move(gi), std::move(gw), std::move(gb));
}

// per channel (dim 1): the mean and the biased variance of x (N, C, ...), in double (batch norm's running
// statistics; the caller updates the buffers)
template <typename T>
py::tuple batch_norm_stats(CArray<T> x) {
    const Planes s = planes(x, "batch_norm_stats");
    py::array_t<double> mean({s.C}), var({s.C});
    double* pm = mean.mutable_data();
    double* pv = var.mutable_data();
    const T* px = x.data();
    {
        py::gil_scoped_release release;
        std::fill(pm, pm + s.C, std::numeric_limits<double>::quiet_NaN());  // no values: 0/0, as a mean of none
        std::fill(pv, pv + s.C, std::numeric_limits<double>::quiet_NaN());
        if (s.N * s.M > 0) bn_kernels<T>().stats(px, s.N, s.C, s.M, pm, pv);
    }
    return py::make_tuple(std::move(mean), std::move(var));
}

// -- max pooling -----------------------------------------------------------------------------------------------

template <typename T>
EMBER_INLINE bool is_nan(T v) {
    if constexpr (std::is_floating_point<T>::value)
        return v != v;
    else
        return false;
}

// best, at = v, q where v is greater than best or NaN, by masks rather than a branch
template <typename T>
EMBER_INLINE void pool_take(T v, ssize q, T& best, ssize& at) {
    typedef typename std::conditional<
        sizeof(T) == 1, uint8_t,
        typename std::conditional<sizeof(T) == 2, uint16_t,
                                  typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type>::type>::type U;
    const bool take = (v > best) | is_nan(v);
    const U m = U(U(0) - U(take));
    U vb, bb;
    std::memcpy(&vb, &v, sizeof v);
    std::memcpy(&bb, &best, sizeof best);
    bb = U((vb & m) | (bb & U(~m)));
    std::memcpy(&best, &bb, sizeof best);
    const ssize mq = -ssize(take);
    at = (q & mq) | (at & ~mq);
}

struct PoolGeo {
    ssize H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW;
};

// PyTorch's rule: the maximum over the window's positions inside the image, rows then columns, the first on ties,
// a NaN replacing the maximum (so the last NaN wins); the index is the position in the H*W plane. The updates are
// masks, not branches (where the maximum lies in real data is unpredictable). KH, KW: the kernel size when fixed
// at compile time (windows wholly inside the image take it), else 0.
template <typename T, int KH, int KW>
void pool_planes(const T* x, ssize P, const PoolGeo& g, T* vals, int64_t* idx) {
    const T low = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                       : std::numeric_limits<T>::lowest();
    const ssize HW = g.H * g.W;
    for (ssize p = 0; p < P; ++p) {
        const T* plane = x + p * HW;
        for (ssize oh = 0; oh < g.OH; ++oh) {
            ssize h0 = oh * g.sh - g.ph;
            const ssize h1 = std::min(h0 + (g.kh - 1) * g.dh + 1, g.H);
            const bool rows_inside = h0 >= 0 && h0 + (g.kh - 1) * g.dh < g.H;
            while (h0 < 0) h0 += g.dh;
            for (ssize ow = 0; ow < g.OW; ++ow) {
                ssize w0 = ow * g.sw - g.pw;
                const ssize w1 = std::min(w0 + (g.kw - 1) * g.dw + 1, g.W);
                const bool inside = rows_inside && w0 >= 0 && w0 + (g.kw - 1) * g.dw < g.W;
                while (w0 < 0) w0 += g.dw;
                T best = low;
                ssize at = h0 * g.W + w0;
                if (KH > 0 && inside) {
                    for (int i = 0; i < KH; ++i)
                        for (int j = 0; j < KW; ++j) {
                            const ssize q = (h0 + i * g.dh) * g.W + w0 + j * g.dw;
                            pool_take(plane[q], q, best, at);
                        }
                } else {
                    for (ssize ih = h0; ih < h1; ih += g.dh)
                        for (ssize iw = w0; iw < w1; iw += g.dw) {
                            const ssize q = ih * g.W + iw;
                            pool_take(plane[q], q, best, at);
                        }
                }
                *vals++ = best;
                *idx++ = at;
            }
        }
    }
}

template <typename T>
void pool_run(const T* x, ssize P, const PoolGeo& g, T* vals, int64_t* idx) {
    if (g.kh == 2 && g.kw == 2)
        pool_planes<T, 2, 2>(x, P, g, vals, idx);
    else if (g.kh == 3 && g.kw == 3)
        pool_planes<T, 3, 3>(x, P, g, vals, idx);
    else
        pool_planes<T, 0, 0>(x, P, g, vals, idx);
}

template <typename T>
py::tuple max_pool2d_typed(const py::array& xa, ssize kh, ssize kw, ssize sh, ssize sw, ssize ph, ssize pw, ssize dh,
                           ssize dw, ssize OH, ssize OW) {
    CArray<T> x = CArray<T>::ensure(xa);
    if (!x || x.ndim() != 4) throw py::value_error("max_pool2d: the input must be 4-d (N, C, H, W)");
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0 || OH < 0 || OW < 0)
        throw py::value_error("max_pool2d: kernel, stride and dilation must be positive, padding not negative");
    const ssize P = x.shape(0) * x.shape(1);
    const PoolGeo g{x.shape(2), x.shape(3), kh, kw, sh, sw, ph, pw, dh, dw, OH, OW};
    CArray<T> vals({x.shape(0), x.shape(1), OH, OW});
    py::array_t<int64_t> idx({x.shape(0), x.shape(1), OH, OW});
    const T* px = x.data();
    T* pv = vals.mutable_data();
    int64_t* pi = idx.mutable_data();
    if (vals.size() == 0) return py::make_tuple(std::move(vals), std::move(idx));
    {
        py::gil_scoped_release release;
        pool_run<T>(px, P, g, pv, pi);
    }
    return py::make_tuple(std::move(vals), std::move(idx));
}

py::tuple max_pool2d(const py::array& x, ssize kh, ssize kw, ssize sh, ssize sw, ssize ph, ssize pw, ssize dh,
                     ssize dw, ssize OH, ssize OW) {
#define EMBER_POOL(T) \
    if (py::isinstance<py::array_t<T>>(x)) return max_pool2d_typed<T>(x, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW);
    EMBER_POOL(float)
    EMBER_POOL(double)
    EMBER_POOL(int8_t)
    EMBER_POOL(uint8_t)
    EMBER_POOL(int16_t)
    EMBER_POOL(int32_t)
    EMBER_POOL(int64_t)
#undef EMBER_POOL
    throw py::type_error("max_pool2d: no native kernel for dtype " + std::string(py::str(x.dtype())));
}

// -- Adam / AdamW ----------------------------------------------------------------------------------------------

template <typename T>
struct AdamArgs {
    T *p, *m, *v, *vmax;
    const T* g;
    ssize n;
    T decay;       // 1 - lr * weight_decay (decoupled), else 1
    T wd;          // weight_decay folded into the gradient (not decoupled), else 0
    T beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, step_size;
};

template <typename T, int VB>
EMBER_INLINE void adam_impl(const AdamArgs<T>& a) {
    typedef typename Vec<T, VB>::type V;
    constexpr int VW = VB / sizeof(T);
    ssize i = 0;
    if (!a.vmax) {
        for (; i + VW <= a.n; i += VW) {
            V p = vload<V>(a.p + i), g = vload<V>(a.g + i);
            p *= a.decay;
            if (a.wd != T(0)) g += p * a.wd;
            const V m = vload<V>(a.m + i) * a.beta1 + a.one_minus_beta1 * g;
            const V v = vload<V>(a.v + i) * a.beta2 + a.one_minus_beta2 * (g * g);
            V s;
            for (int k = 0; k < VW; ++k) s[k] = std::sqrt(v[k]);
            p -= m / (s / a.bc2_sqrt + a.eps) * a.step_size;
            vstore(a.m + i, m);
            vstore(a.v + i, v);
            vstore(a.p + i, p);
        }
    }
    for (; i < a.n; ++i) {
        T p = a.p[i] * a.decay, g = a.g[i];
        if (a.wd != T(0)) g += p * a.wd;
        const T m = a.m[i] * a.beta1 + a.one_minus_beta1 * g;
        const T v = a.v[i] * a.beta2 + a.one_minus_beta2 * (g * g);
        T u = v;
        if (a.vmax) {
            const T x = a.vmax[i];
            u = (x != x || x > v) ? x : v;  // NaN propagates, as numpy's and PyTorch's maximum
            a.vmax[i] = u;
        }
        p -= m / (std::sqrt(u) / a.bc2_sqrt + a.eps) * a.step_size;
        a.m[i] = m;
        a.v[i] = v;
        a.p[i] = p;
    }
}

EMBER_AVX512 void adam_avx512_f32(const AdamArgs<float>& a) { adam_impl<float, 64>(a); }
EMBER_AVX512 void adam_avx512_f64(const AdamArgs<double>& a) { adam_impl<double, 64>(a); }
EMBER_AVX2 void adam_avx2_f32(const AdamArgs<float>& a) { adam_impl<float, 32>(a); }
EMBER_AVX2 void adam_avx2_f64(const AdamArgs<double>& a) { adam_impl<double, 32>(a); }
void adam_sse2_f32(const AdamArgs<float>& a) { adam_impl<float, 16>(a); }
void adam_sse2_f64(const AdamArgs<double>& a) { adam_impl<double, 16>(a); }

void adam_run(const AdamArgs<float>& a) {
    const Isa isa = level();
    (isa == kAvx512 ? adam_avx512_f32 : isa == kAvx2 ? adam_avx2_f32 : adam_sse2_f32)(a);
}

void adam_run(const AdamArgs<double>& a) {
    const Isa isa = level();
    (isa == kAvx512 ? adam_avx512_f64 : isa == kAvx2 ? adam_avx2_f64 : adam_sse2_f64)(a);
}

template <typename T>
T* inplace(const py::array& a, ssize n, const char* arg) {
    if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style) || !a.writeable() || a.size() != n)
        throw py::value_error(std::string("adam_step: ") + arg +
                              " must be a writable C-contiguous array of the parameter's dtype and size");
    return static_cast<T*>(const_cast<void*>(a.data()));
}

template <typename T>
void adam_typed(const py::array& param, const py::array& grad, const py::array& exp_avg, const py::array& exp_avg_sq,
                const py::object& max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
                double weight_decay, double bc1, double bc2, bool decoupled) {
    AdamArgs<T> a;
    a.n = param.size();
    a.p = inplace<T>(param, a.n, "param");
    a.m = inplace<T>(exp_avg, a.n, "exp_avg");
    a.v = inplace<T>(exp_avg_sq, a.n, "exp_avg_sq");
    a.vmax = max_exp_avg_sq.is_none() ? nullptr : inplace<T>(max_exp_avg_sq.cast<py::array>(), a.n, "max_exp_avg_sq");
    if (!py::isinstance<py::array_t<T>>(grad) || !(grad.flags() & py::array::c_style) || grad.size() != a.n)
        throw py::value_error("adam_step: grad must be a C-contiguous array of the parameter's dtype and size");
    a.g = static_cast<const T*>(grad.data());
    a.decay = T(weight_decay && decoupled ? 1 - lr * weight_decay : 1);
    a.wd = T(weight_decay && !decoupled ? weight_decay : 0);
    a.beta1 = T(beta1);
    a.one_minus_beta1 = T(1 - beta1);
    a.beta2 = T(beta2);
    a.one_minus_beta2 = T(1 - beta2);
    a.bc2_sqrt = T(std::sqrt(bc2));
    a.eps = T(eps);
    a.step_size = T(lr / bc1);
    py::gil_scoped_release release;
    adam_run(a);
}

void adam_step(const py::array& param, const py::array& grad, const py::array& exp_avg, const py::array& exp_avg_sq,
               const py::object& max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, double bc1, double bc2, bool decoupled) {
    if (py::isinstance<py::array_t<float>>(param))
        return adam_typed<float>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                                 weight_decay, bc1, bc2, decoupled);
    if (py::isinstance<py::array_t<double>>(param))
        return adam_typed<double>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                                  weight_decay, bc1, bc2, decoupled);
    throw py::type_error("adam_step: no native kernel for dtype " + std::string(py::str(param.dtype())));
}

}  // namespace

void register_norm_pool(py::module_& m) {
    const char* bn_doc =
        "Batch normalization of x (N, C, ...) with the batch's statistics (biased variance) and optional weight "
        "and bias (C,); eps is added to the variance.";
    const char* bnb_doc =
        "(grad_input, grad_weight, grad_bias) of batch_norm_train for grad_output, input x, weight (C,) or None.";
    m.def("batch_norm_train_f32", &batch_norm_train<float>, bn_doc);
    m.def("batch_norm_train_f64", &batch_norm_train<double>, bn_doc);
    m.def("batch_norm_train_backward_f32", &batch_norm_train_backward<float>, bnb_doc);
    m.def("batch_norm_train_backward_f64", &batch_norm_train_backward<double>, bnb_doc);
    const char* stats_doc = "(mean, biased variance) per channel (dim 1) of x (N, C, ...), as float64 arrays.";
    m.def("batch_norm_stats_f32", &batch_norm_stats<float>, stats_doc);
    m.def("batch_norm_stats_f64", &batch_norm_stats<double>, stats_doc);
    m.def("max_pool2d", &max_pool2d,
          "(values, int64 indices into each H*W plane) of max pooling x (N, C, H, W) of a float32, float64 or "
          "integer dtype; the arguments after x are kh, kw, sh, sw, ph, pw, dh, dw, OH, OW.");
    m.def("adam_step", &adam_step,
          "One Adam/AdamW update in place of param, exp_avg, exp_avg_sq (and max_exp_avg_sq, or None): "
          "C-contiguous float32 or float64 arrays of one dtype; the arguments after max_exp_avg_sq are lr, beta1, "
          "beta2, eps, weight_decay, bc1 = 1 - beta1**step, bc2 = 1 - beta2**step, decoupled.");
}
