// Cross-entropy of (N, C) logits and class targets, forward and backward, in one pass over each row.
//
// The classification loss of nearly every training step: written with numpy it is some twenty calls on small
// arrays (log-softmax, a gather, a mask, a mean), each costing more than its arithmetic. Here: the common case
// (float32/float64 logits, C-contiguous, int64 targets, no class weights, no label smoothing); the kernels in
// kernels/nn.py keep every other case, and the error for a target out of range (these answer None for it).
//
// Per row: m = max, lse = m + log(sum(exp(x - m))) (the exponentials in the logits' dtype, their sum in
// double), loss = lse - x[t]; a row with +inf, or of -inf only, gives NaN (x - m is NaN there), as PyTorch's; a target equal to ignore_index counts neither
// in the loss nor in the mean's count (every target ignored: the mean is 0/0, NaN, and the gradient 0, as
// PyTorch's). The gradient is softmax(x) - onehot(t), scaled by the output's gradient (divided by the count
// for the mean).

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "small.h"

namespace py = pybind11;

namespace {

using ember_small::is_c_array_of;
using ssize = py::ssize_t;

enum Reduction { kNone = 0, kMean = 1, kSum = 2 };

// The (N, C) logits and N targets this kernel takes, or false.
template <typename T>
bool operands(const py::handle& x, const py::handle& target, ssize ignore_index, py::array& X, py::array& t) {
    if (!is_c_array_of<T>(x) || !is_c_array_of<int64_t>(target)) return false;
    X = py::reinterpret_borrow<py::array>(x);
    t = py::reinterpret_borrow<py::array>(target);
    if (X.ndim() != 2 || t.ndim() != 1 || t.shape(0) != X.shape(0) || X.shape(1) == 0) return false;
    const ssize C = X.shape(1);
    const int64_t* pt = static_cast<const int64_t*>(t.data());
    for (ssize i = 0; i < t.shape(0); ++i)   // a bad target: the Python kernel raises its error
        if (pt[i] != ignore_index && (pt[i] < 0 || pt[i] >= C)) return false;
    return true;
}

// e[j] = exp(row[j] - m) (in T: float32's exp for float32 logits, as PyTorch's), m the row's max; returns m,
// and the sum of e (accumulated in double) in s
template <typename T>
T row_exp(const T* row, ssize C, T* e, double& s) {
    T m = row[0];
    for (ssize j = 1; j < C; ++j) m = row[j] > m ? row[j] : m;
    s = 0.0;
    for (ssize j = 0; j < C; ++j) {
        e[j] = std::exp(row[j] - m);
        s += e[j];
    }
    return m;
}

template <typename T>
py::object forward(const py::array& X, const py::array& t, ssize ignore_index, int reduction) {
    const ssize N = X.shape(0), C = X.shape(1);
    const T* px = static_cast<const T*>(X.data());
    const int64_t* pt = static_cast<const int64_t*>(t.data());
    py::array_t<T> out(reduction == kNone ? std::vector<ssize>{N} : std::vector<ssize>{});
    T* po = out.mutable_data();
    std::vector<T> e(C);
    double total = 0.0;
    ssize count = 0;
    for (ssize i = 0; i < N; ++i) {
        const T* row = px + i * C;
        double loss = 0.0;
        if (pt[i] != ignore_index) {
            double s;
            const T m = row_exp(row, C, e.data(), s);
            loss = static_cast<double>(m) + std::log(s) - static_cast<double>(row[pt[i]]);
            ++count;
        }
        if (reduction == kNone) po[i] = static_cast<T>(loss);
        total += loss;
    }
    if (reduction == kMean) po[0] = static_cast<T>(total / static_cast<double>(count));   // 0/0: NaN
    if (reduction == kSum) po[0] = static_cast<T>(total);
    return std::move(out);
}

template <typename T>
py::object backward(const py::array& G, const py::array& X, const py::array& t, ssize ignore_index,
                    int reduction) {
    const ssize N = X.shape(0), C = X.shape(1);
    if (!is_c_array_of<T>(G) || G.size() != (reduction == kNone ? N : 1)) return py::none();
    const T* pg = static_cast<const T*>(G.data());
    const T* px = static_cast<const T*>(X.data());
    const int64_t* pt = static_cast<const int64_t*>(t.data());
    ssize count = 0;
    for (ssize i = 0; i < N; ++i) count += pt[i] != ignore_index;
    py::array_t<T> out(std::vector<ssize>{N, C});
    T* po = out.mutable_data();
    for (ssize i = 0; i < N; ++i) {
        const T* row = px + i * C;
        T* o = po + i * C;
        if (pt[i] == ignore_index) {
            for (ssize j = 0; j < C; ++j) o[j] = T(0);
            continue;
        }
        double scale = reduction == kNone ? static_cast<double>(pg[i]) : static_cast<double>(pg[0]);
        if (reduction == kMean) scale /= static_cast<double>(count);
        double s;
        row_exp(row, C, o, s);   // o[j] = exp(row[j] - m), then the softmax o[j] / s
        const double k = scale / s;
        for (ssize j = 0; j < C; ++j) o[j] = static_cast<T>(static_cast<double>(o[j]) * k);
        o[pt[i]] = static_cast<T>(static_cast<double>(o[pt[i]]) - scale);
    }
    return std::move(out);
}

Reduction reduction_of(const py::handle& r) {
    const std::string s = py::str(r);
    if (s == "none") return kNone;
    if (s == "sum") return kSum;
    if (s == "mean") return kMean;
    throw py::value_error("reduction must be 'mean', 'sum' or 'none', got '" + s + "'");
}

// cross_entropy(x, target, ignore_index, reduction): the loss, or None for a case the kernel leaves to numpy
py::object cross_entropy(py::handle x, py::handle target, py::handle ignore, py::handle reduction) {
    const ssize ii = ignore.cast<ssize>();
    const int red = reduction_of(reduction);
    py::array X, t;
    if (operands<float>(x, target, ii, X, t)) return forward<float>(X, t, ii, red);
    if (operands<double>(x, target, ii, X, t)) return forward<double>(X, t, ii, red);
    return py::none();
}

py::object cross_entropy_backward(py::handle grad, py::handle x, py::handle target, py::handle ignore,
                                  py::handle reduction) {
    const ssize ii = ignore.cast<ssize>();
    const int red = reduction_of(reduction);
    py::array X, t;
    auto G = py::reinterpret_borrow<py::object>(grad);
    if (!py::isinstance<py::array>(G)) return py::none();
    if (operands<float>(x, target, ii, X, t)) return backward<float>(G, X, t, ii, red);
    if (operands<double>(x, target, ii, X, t)) return backward<double>(G, X, t, ii, red);
    return py::none();
}

}  // namespace

void register_loss(py::module_& m) {
    m.def("cross_entropy", &cross_entropy, py::arg("x"), py::arg("target"), py::arg("ignore_index"),
          py::arg("reduction"),
          "Cross-entropy of (N, C) float32/float64 logits and N int64 targets (no weights, no smoothing): the "
          "mean, sum or per-row losses; None for other operands or a target out of range.");
    m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("grad"), py::arg("x"), py::arg("target"),
          py::arg("ignore_index"), py::arg("reduction"),
          "The gradient of cross_entropy with respect to x, for the operands cross_entropy takes (grad: the "
          "output's gradient, of x's dtype); None otherwise.");
}
