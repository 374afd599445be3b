// The gradient of relu and threshold: out = self <= threshold ? 0 : grad, one pass over contiguous data.
//
// A select, not a product with a mask: an inf or NaN gradient where self <= threshold gives 0, and a NaN in self
// (not <= threshold) passes the gradient, as PyTorch's threshold_backward. The loop is vectorized by the compiler
// for the baseline vector width; it is bound by memory, so wider instruction sets would gain little.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

namespace py = pybind11;
using ssize = py::ssize_t;

namespace {

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// both operands loaded unconditionally, so that the select compiles to vector compares and blends, not branches
template <typename T>
void select_grad(const T* __restrict g, const T* __restrict x, T t, ssize n, T* __restrict out) {
    for (ssize i = 0; i < n; ++i) {
        const T gv = g[i], xv = x[i];
        out[i] = xv <= t ? T(0) : gv;
    }
}

template <typename T>
py::array threshold_backward(CArray<T> grad, CArray<T> x, double threshold) {
    if (grad.ndim() != x.ndim() || !std::equal(x.shape(), x.shape() + x.ndim(), grad.shape()))
        throw py::value_error("threshold_backward: grad_output and self must have one shape");
    std::vector<ssize> shape(x.shape(), x.shape() + x.ndim());
    CArray<T> out(shape);
    const T* pg = grad.data();
    const T* px = x.data();
    T* po = out.mutable_data();
    const ssize n = x.size();
    {
        py::gil_scoped_release release;
        select_grad<T>(pg, px, T(threshold), n, po);
    }
    return std::move(out);
}

}  // namespace

void register_activation(py::module_& m) {
    const char* doc =
        "threshold_backward(grad, self, threshold): 0 where self <= threshold, else grad (same shapes; NaN in self "
        "passes grad).";
    m.def("threshold_backward_f32", &threshold_backward<float>, doc);
    m.def("threshold_backward_f64", &threshold_backward<double>, doc);
}
