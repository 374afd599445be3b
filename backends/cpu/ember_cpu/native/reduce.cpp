// Reductions of small arrays (small.h): sum and mean over every element, max and min over every element and
// along one dim with the index of the extremum.
//
// Semantics are the reduction kernels' (kernels/reduction.py): sums in numpy's order (the same bits); a NaN is
// the maximum and the minimum, and along a dim the index is that of the first occurrence (the first NaN where
// there is one). The model code's many small reductions are where numpy's ufunc machinery costs more than the
// arithmetic: a whole-array max of a 4x4 tensor takes numpy about 1 us and this about a seventh of it.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "simd.h"
#include "small.h"

#include <cstdint>
#include <string>
#include <vector>

namespace py = pybind11;
using ssize = py::ssize_t;

namespace {

template <typename T>
inline bool is_nan(T v) {
    return v != v;   // false for every integer
}

// a better than b: larger (smaller), or a NaN. Once b is a NaN nothing is better, so a NaN, once taken, stays.
template <typename T, bool Max>
inline bool better(T a, T b) {
    return (Max ? a > b : a < b) | is_nan(a);   // no branch: a vector compare each
}

// The extremum of n contiguous values (n >= 1): kVecs running vectors of baseline width (16 bytes, which every
// x86-64 and arm64 cpu has), so that the loop is vector compares and blends, not one serial chain.
template <typename T, bool Max>
T extremum(const T* __restrict p, ssize n) {
    typedef T V __attribute__((vector_size(16)));
    constexpr ssize kWidth = 16 / sizeof(T), kVecs = 4, kStep = kWidth * kVecs;
    ssize i = 0;
    T best = p[0];
    if (n >= kStep) {
        V acc[kVecs];
        for (ssize v = 0; v < kVecs; ++v) acc[v] = ember_simd::vload<V>(p + v * kWidth);
        for (i = kStep; i + kStep <= n; i += kStep)
            for (ssize v = 0; v < kVecs; ++v) {
                const V x = ember_simd::vload<V>(p + i + v * kWidth);
                acc[v] = ((Max ? x > acc[v] : x < acc[v]) | (x != x)) ? x : acc[v];
            }
        for (ssize v = 0; v < kVecs; ++v)
            for (ssize j = 0; j < kWidth; ++j) best = better<T, Max>(acc[v][j], best) ? acc[v][j] : best;
    }
    for (; i < n; ++i) best = better<T, Max>(p[i], best) ? p[i] : best;
    return best;
}

// The index of the first element equal to v (of the first NaN, where v is a NaN); v is one of p's values.
template <typename T>
ssize first_index(const T* p, ssize n, T v) {
    ssize i = 0;
    if (is_nan(v))
        while (!is_nan(p[i])) ++i;
    else
        while (p[i] != v) ++i;
    return i;
}

// Up to this many elements one pass here beats numpy's ufunc call; above it numpy's reduce (compiled for the
// widest vectors the cpu has) is faster, and gets the array.
constexpr ssize kSmall = 4096;

template <bool Max>
py::object numpy_reduce(const py::array& x) {
    static const auto* reduce = new py::object(py::module_::import("numpy").attr(Max ? "maximum" : "minimum")
                                               .attr("reduce"));   // never freed: it outlives the module
    return (*reduce)(x, py::none());
}

// x's extremum as a 0-d array where x is a small contiguous array of T; else nothing. A zero is numpy's to
// give: which of +0.0 and -0.0 its vector loops return depends on where each sits.
template <typename T, bool Max>
bool reduce_all_as(const py::array& x, py::object& out) {
    if (!py::isinstance<py::array_t<T>>(x)) return false;
    const T v = extremum<T, Max>(static_cast<const T*>(x.data()), x.size());
    if (v == T(0)) return false;
    py::array_t<T> r(std::vector<ssize>{});
    *r.mutable_data() = v;
    out = std::move(r);
    return true;
}

template <bool Max>
py::object reduce_all(py::handle x_, py::handle, py::handle) {
    if (!py::isinstance<py::array>(x_)) throw py::type_error("max_all/min_all take a numpy array");
    auto x = py::reinterpret_borrow<py::array>(x_);
    const ssize n = x.size();
    if (n == 0) throw py::value_error(std::string(Max ? "max" : "min") + " of an empty array has no value");
    py::object out;
    if (n <= kSmall && (x.flags() & py::array::c_style) &&
        (reduce_all_as<float, Max>(x, out) || reduce_all_as<double, Max>(x, out) ||
         reduce_all_as<int32_t, Max>(x, out) || reduce_all_as<int64_t, Max>(x, out)))
        return out;   // (an int zero goes to numpy too: the same answer, a little slower)
    return numpy_reduce<Max>(x);
}

// numpy's float sum of n contiguous values, operation for operation (numpy/_core/src/umath/loops_utils.h.src,
// pairwise_sum): a serial sum below 8 values, 8 running sums combined pairwise up to 128, and above that the
// two halves (split at a multiple of 8) summed so and added. Same order, same bits.
template <typename T>
T pairwise_sum(const T* a, ssize n) {
    if (n < 8) {
        T r = T(0);
        for (ssize i = 0; i < n; ++i) r += a[i];
        return r;
    }
    if (n <= 128) {
        T r[8];
        for (int j = 0; j < 8; ++j) r[j] = a[j];
        ssize i = 8;
        for (; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; ++j) r[j] += a[i + j];
        T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) res += a[i];
        return res;
    }
    ssize n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// sum (Mean: divided by the count, in T) over every element of a small C-contiguous array of T, as numpy's
// add.reduce(x, None) (its identity, 0, first) [and true_divide by the count]; false otherwise.
template <typename T, bool Mean>
bool sum_all_as(const py::handle& x_, py::object& out) {
    if (!ember_small::is_c_array_of<T>(x_)) return false;
    auto x = py::reinterpret_borrow<py::array>(x_);
    const ssize n = x.size();
    if (n > kSmall) return false;
    T s = T(0) + pairwise_sum(static_cast<const T*>(x.data()), n);
    if (Mean) s = s / static_cast<T>(n);
    py::array_t<T> r(std::vector<ssize>{});
    *r.mutable_data() = s;
    out = std::move(r);
    return true;
}

// sum(x) / sum(x, dims, keepdim), as numpy's add.reduce(x, dims, None, None, keepdim); Mean: divided by the
// count of the reduced elements (true_divide by a Python int, as numpy does).
template <bool Mean>
py::object sum(py::handle x, py::handle dims, py::handle keep) {
    const bool keepdim = keep.ptr() == Py_True;
    static const auto* reduce = new py::object(ember_small::numpy_attr("add", "reduce"));
    static const auto* divide = new py::object(ember_small::numpy_attr("true_divide"));
    py::object out;
    if (dims.is_none() && !keepdim && (sum_all_as<float, Mean>(x, out) || sum_all_as<double, Mean>(x, out)))
        return out;
    out = (*reduce)(x, dims, py::none(), py::none(), keepdim);
    if (!Mean) return out;
    const py::array a = py::array::ensure(x);   // numpy's conversion, as add.reduce made (an error raised there)
    if (!a) throw py::error_already_set();
    ssize count = a.size();
    if (!dims.is_none()) {   // add.reduce accepted dims: ints in [-ndim, ndim)
        count = 1;
        for (auto d : dims) {
            const ssize k = d.cast<ssize>();
            count *= a.shape(k < 0 ? k + a.ndim() : k);
        }
    }
    return (*divide)(out, count);
}

// values[o, i] and indices[o, i] over x viewed as (outer, n, inner): the first extremum of x[o, :, i].
template <typename T, bool Max>
void along(const T* __restrict x, ssize outer, ssize n, ssize inner, T* __restrict values,
           int64_t* __restrict indices) {
    if (inner == 1) {   // one row per output: find the value with vectors, then its first index
        for (ssize o = 0; o < outer; ++o) {
            const T* row = x + o * n;
            const int64_t i = first_index(row, n, extremum<T, Max>(row, n));
            indices[o] = i;
            values[o] = row[i];   // the element itself: of two equal zeros, the sign of the first
        }
        return;
    }
    for (ssize o = 0; o < outer; ++o) {
        const T* base = x + o * n * inner;
        T* v = values + o * inner;
        int64_t* ix = indices + o * inner;
        for (ssize i = 0; i < inner; ++i) {
            v[i] = base[i];
            ix[i] = 0;
        }
        for (ssize k = 1; k < n; ++k) {
            const T* row = base + k * inner;
            for (ssize i = 0; i < inner; ++i) {
                const T cur = v[i], c = row[i];
                const bool take = !is_nan(cur) && better<T, Max>(c, cur);   // the first NaN stays
                v[i] = take ? c : cur;
                ix[i] = take ? k : ix[i];
            }
        }
    }
}

template <typename T, bool Max>
py::tuple reduce_dim_as(const py::array& x, ssize dim, bool keepdim) {
    const ssize nd = x.ndim();
    if (dim < 0 || dim >= nd)
        throw py::index_error("dim " + std::to_string(dim) + " is out of range for an array of " +
                              std::to_string(nd) + " dims");
    const ssize n = x.shape(dim);
    if (n == 0) throw py::value_error("dim " + std::to_string(dim) + " has size 0: its extremum has no value");
    ssize outer = 1, inner = 1;
    std::vector<ssize> shape;
    for (ssize d = 0; d < nd; ++d) {
        if (d < dim) outer *= x.shape(d);
        if (d > dim) inner *= x.shape(d);
        if (d != dim) shape.push_back(x.shape(d));
        else if (keepdim) shape.push_back(1);
    }
    py::array_t<T> values(shape);
    py::array_t<int64_t> indices(shape);
    const T* px = static_cast<const T*>(x.data());
    T* pv = values.mutable_data();
    int64_t* pi = indices.mutable_data();
    if (outer * inner) {
        py::gil_scoped_release release;
        along<T, Max>(px, outer, n, inner, pv, pi);
    }
    return py::make_tuple(std::move(values), std::move(indices));
}

// (values, indices), or None where numpy serves better: an array of another dtype, non-contiguous, or large.
template <bool Max>
py::object reduce_dim(py::handle x_, py::handle dim_, py::handle keep) {
    if (!py::isinstance<py::array>(x_)) throw py::type_error("max_dim/min_dim take a numpy array");
    auto x = py::reinterpret_borrow<py::array>(x_);
    const ssize dim = dim_.cast<ssize>();
    const bool keepdim = keep.ptr() == Py_True;
    if (x.size() > kSmall || !(x.flags() & py::array::c_style)) return py::none();
    if (py::isinstance<py::array_t<float>>(x)) return reduce_dim_as<float, Max>(x, dim, keepdim);
    if (py::isinstance<py::array_t<double>>(x)) return reduce_dim_as<double, Max>(x, dim, keepdim);
    if (py::isinstance<py::array_t<int32_t>>(x)) return reduce_dim_as<int32_t, Max>(x, dim, keepdim);
    if (py::isinstance<py::array_t<int64_t>>(x)) return reduce_dim_as<int64_t, Max>(x, dim, keepdim);
    return py::none();
}

}  // namespace

void register_reduce(py::module_& m) {
    const char* all_doc =
        "The largest (max_all) or smallest (min_all) element, a NaN if there is one: a 0-d array for a small "
        "contiguous float32, float64, int32 or int64 array, else numpy's reduce.";
    const char* dim_doc =
        "(x, dim, keepdim) -> (values, int64 indices): the extremum along dim (0 <= dim < x.ndim, size > 0) and "
        "the index of its first occurrence, a NaN winning at its first index; None for an array that is not "
        "float32, float64, int32 or int64, non-contiguous, or large (numpy's argmax is faster there).";
    const char* sum_doc =
        "sum(x, dims=None, keepdim=False): numpy's add.reduce(x, dims, None, None, keepdim), computed here (the "
        "same bits) over every element of a small C-contiguous float32/float64 array; mean: that divided by the "
        "count of the reduced elements.";
    ember_small::def_fast<sum<false>>(m, "sum", sum_doc);
    ember_small::def_fast<sum<true>>(m, "mean", sum_doc);
    ember_small::def_fast<reduce_all<true>>(m, "max_all", all_doc);
    ember_small::def_fast<reduce_all<false>>(m, "min_all", all_doc);
    ember_small::def_fast<reduce_dim<true>>(m, "max_dim", dim_doc);
    ember_small::def_fast<reduce_dim<false>>(m, "min_dim", dim_doc);
}
