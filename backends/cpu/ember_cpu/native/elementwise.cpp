// add, sub, mul and true_divide on small float32/float64 arrays, with numpy's broadcasting (small.h), and relu.
//
// Elementwise IEEE arithmetic gives the same bits in any order, so these match numpy exactly: a Python float or
// int operand is rounded to the array's dtype first, as numpy does (NEP 50), and relu is numpy's
// maximum(x, 0) (NaN propagates, -0.0 gives +0.0). A 0-d result is a 0-d array, where numpy gives a scalar.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "small.h"

namespace py = pybind11;

namespace {

using namespace ember_small;

constexpr int kMaxDims = 8;

enum Op { kAdd, kSub, kMul, kDiv };

template <typename T, Op O>
inline T apply(T a, T b) {
    if constexpr (O == kAdd) return a + b;
    if constexpr (O == kSub) return a - b;
    if constexpr (O == kMul) return a * b;
    return a / b;
}

// out[i] = a[i] op b[i] over shape (C order), a and b read with strides in elements (0: broadcast)
template <typename T, Op O>
void loop(int nd, const ssize* shape, const T* a, const ssize* sa, const T* b, const ssize* sb, T* out) {
    if (nd == 0) {
        out[0] = apply<T, O>(a[0], b[0]);
        return;
    }
    const ssize inner = shape[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
    ssize outer = 1, idx[kMaxDims] = {0};
    for (int d = 0; d < nd - 1; ++d) outer *= shape[d];
    for (ssize o = 0; o < outer; ++o) {
        ssize oa = 0, ob = 0;
        for (int d = 0; d < nd - 1; ++d) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        const T* pa = a + oa;
        const T* pb = b + ob;
        if (ia == 1 && ib == 1) {
            for (ssize i = 0; i < inner; ++i) out[i] = apply<T, O>(pa[i], pb[i]);
        } else if (ia == 1 && ib == 0) {
            const T v = pb[0];
            for (ssize i = 0; i < inner; ++i) out[i] = apply<T, O>(pa[i], v);
        } else if (ia == 0 && ib == 1) {
            const T v = pa[0];
            for (ssize i = 0; i < inner; ++i) out[i] = apply<T, O>(v, pb[i]);
        } else {
            for (ssize i = 0; i < inner; ++i) out[i] = apply<T, O>(pa[i * ia], pb[i * ib]);
        }
        out += inner;
        for (int d = nd - 2; d >= 0; --d) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

// A Python float, or an int that a double holds exactly, as T (None: another kind of operand).
template <typename T>
bool scalar_of(const py::handle& b, T& v) {
    PyObject* o = b.ptr();
    if (PyFloat_CheckExact(o)) {
        v = static_cast<T>(PyFloat_AS_DOUBLE(o));
        return true;
    }
    if (PyLong_CheckExact(o)) {
        int overflow = 0;
        const long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || i > (1LL << 53) || i < -(1LL << 53)) return false;
        v = static_cast<T>(static_cast<double>(i));
        return true;
    }
    return false;
}

// whether two arrays' memory overlaps (other than being the same array with the same layout)
bool partly_overlaps(const py::array& x, const py::array& y) {
    const char* x0 = static_cast<const char*>(x.data());
    const char* y0 = static_cast<const char*>(y.data());
    const char* x1 = x0 + x.nbytes();
    const char* y1 = y0 + y.nbytes();
    if (x1 <= y0 || y1 <= x0) return false;
    return !(x0 == y0 && x.nbytes() == y.nbytes() && x.ndim() == y.ndim() &&
             std::equal(x.shape(), x.shape() + x.ndim(), y.shape()));
}

// a op b (into out, when out is an array) where a is a small C-contiguous array of T and b one too or a Python
// number, the shapes broadcasting; false (nothing done) otherwise.
template <typename T, Op O>
bool try_binary(const py::handle& a_, const py::handle& b_, const py::handle& out_, py::object& result) {
    if (!is_c_array_of<T>(a_)) return false;
    auto a = py::reinterpret_borrow<py::array>(a_);
    T scalar;
    const bool is_scalar = scalar_of<T>(b_, scalar);
    if (!is_scalar && !is_c_array_of<T>(b_)) return false;
    py::array b = is_scalar ? py::array() : py::reinterpret_borrow<py::array>(b_);
    const int na = static_cast<int>(a.ndim()), nb = is_scalar ? 0 : static_cast<int>(b.ndim());
    const int nd = na > nb ? na : nb;
    if (nd > kMaxDims) return false;
    ssize shape[kMaxDims], sa[kMaxDims], sb[kMaxDims], size = 1;
    for (int d = 0; d < nd; ++d) {   // numpy's rule: align on the right; a size 1 stretches
        const int da = d - (nd - na), db = d - (nd - nb);
        const ssize ea = da >= 0 ? a.shape(da) : 1, eb = db >= 0 ? b.shape(db) : 1;
        if (ea != eb && ea != 1 && eb != 1) return false;   // numpy raises the error
        shape[d] = ea == 1 ? eb : ea;
        size *= shape[d];
    }
    if (size > kSmall || size == 0) return false;
    ssize ca = 1, cb = 1;   // contiguous strides in elements, 0 where broadcast
    for (int d = nd - 1; d >= 0; --d) {
        const int da = d - (nd - na), db = d - (nd - nb);
        const ssize ea = da >= 0 ? a.shape(da) : 1, eb = db >= 0 ? b.shape(db) : 1;
        sa[d] = ea == 1 ? 0 : ca;
        sb[d] = eb == 1 ? 0 : cb;
        ca *= ea;
        cb *= eb;
    }
    py::array_t<T> out;
    if (out_.is_none()) {
        out = py::array_t<T>(std::vector<ssize>(shape, shape + nd));
    } else {
        if (!is_c_array_of<T>(out_)) return false;
        out = py::reinterpret_borrow<py::array_t<T>>(out_);
        if (!out.writeable() || out.ndim() != nd || !std::equal(shape, shape + nd, out.shape()) || partly_overlaps(out, a) ||
            (!is_scalar && partly_overlaps(out, b)))
            return false;
    }
    const T* pb = is_scalar ? &scalar : static_cast<const T*>(b.data());
    loop<T, O>(nd, shape, static_cast<const T*>(a.data()), sa, pb, sb, out.mutable_data());
    result = out_.is_none() ? py::object(std::move(out)) : py::reinterpret_borrow<py::object>(out_);
    return true;
}

template <Op O>
py::object binary(py::handle a, py::handle b, py::handle out) {
    static const char* names[] = {"add", "subtract", "multiply", "true_divide"};
    static const auto* ufunc = new py::object(numpy_attr(names[O]));   // never freed: it outlives the module
    py::object result;
    if (try_binary<float, O>(a, b, out, result) || try_binary<double, O>(a, b, out, result)) return result;
    return out.is_none() ? (*ufunc)(a, b) : (*ufunc)(a, b, out);
}

template <typename T>
void relu_loop(const T* __restrict p, T* __restrict o, ssize n) {
    for (ssize i = 0; i < n; ++i) {
        const T v = p[i];
        o[i] = ((v > T(0)) | (v != v)) ? v : T(0);   // no branch: vector compares and a blend
    }
}

template <typename T>
bool try_relu(const py::handle& x_, py::object& result) {
    if (!is_c_array_of<T>(x_)) return false;
    auto x = py::reinterpret_borrow<py::array>(x_);
    const ssize n = x.size();   // any size: numpy's maximum with a scalar runs no faster than this loop
    py::array_t<T> out(std::vector<ssize>(x.shape(), x.shape() + x.ndim()));
    const T* p = static_cast<const T*>(x.data());
    T* o = out.mutable_data();
    py::gil_scoped_release release;
    relu_loop(p, o, n);
    result = std::move(out);
    return true;
}

py::object relu(py::handle x, py::handle, py::handle) {
    static const auto* maximum = new py::object(numpy_attr("maximum"));
    py::object result;
    if (try_relu<float>(x, result) || try_relu<double>(x, result)) return result;
    return (*maximum)(x, 0);
}

}  // namespace

void register_elementwise(py::module_& m) {
    const char* doc =
        "{add, sub, mul, true_divide}(a, b[, out]): numpy's add, subtract, multiply, true_divide, computed here for a small C-contiguous "
        "float32/float64 array a and b one of a's dtype or a Python number (broadcasting as numpy), else by "
        "numpy itself.";
    def_fast<binary<kAdd>>(m, "add", doc);
    def_fast<binary<kSub>>(m, "sub", doc);
    def_fast<binary<kMul>>(m, "mul", doc);
    def_fast<binary<kDiv>>(m, "true_divide", doc);
    def_fast<relu>(m, "relu",
                   "relu(x): numpy's maximum(x, 0) (NaN propagates; -0.0 gives +0.0), computed here for a "
                   "C-contiguous float32/float64 array of any size, else by numpy.");
}
