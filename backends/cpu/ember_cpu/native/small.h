// The kernels for small arrays (elementwise.cpp, reduce.cpp): where numpy's ufunc call costs more than the work.
//
// Each one is a drop-in for a numpy call on the arrays model code makes by the thousand (a 4x4 float32 add takes
// numpy about 0.35 us, a broadcast add 1 us, a sum 0.9 us; these take a fraction of that). Each computes exactly
// what numpy computes (the same operations in the same order, so the same bits) for the arrays it takes, and
// hands any other array, or a large one, to the numpy function itself.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace ember_small {

namespace py = pybind11;
using ssize = py::ssize_t;

// Up to this many elements one pass here beats numpy's call; above it numpy's loops (compiled for the widest
// vectors the cpu has) are as fast or faster.
constexpr ssize kSmall = 4096;

// numpy's attribute (a ufunc, or one of its methods), looked up once and kept for the process's life.
inline py::object numpy_attr(const char* name, const char* method = nullptr) {
    py::object f = py::module_::import("numpy").attr(name);
    return method ? f.attr(method) : f;
}

// x is a C-contiguous array of T
template <typename T>
inline bool is_c_array_of(const py::handle& x) {
    return py::isinstance<py::array_t<T>>(x) &&
           (py::reinterpret_borrow<py::array>(x).flags() & py::array::c_style);
}

}  // namespace ember_small

namespace ember_small {

// A function of up to three positional arguments (a missing one is None) bound as a plain METH_FASTCALL builtin:
// the kernels here are called a million times a second, and a pybind11 binding's argument matching costs about
// as much as the work. Python exceptions pass through; C++ ones become RuntimeError.
template <py::object (*F)(py::handle, py::handle, py::handle)>
PyObject* fastcall(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "takes 1 to 3 positional arguments (%zd given)", nargs);
        return nullptr;
    }
    try {
        py::handle a[3] = {args[0], nargs > 1 ? args[1] : Py_None, nargs > 2 ? args[2] : Py_None};
        return F(a[0], a[1], a[2]).release().ptr();
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (const py::builtin_exception& e) {
        e.set_error();
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    return nullptr;
}

// m.name = F, as a fastcall builtin with doc (the definition lives for the process, as the module does)
template <py::object (*F)(py::handle, py::handle, py::handle)>
void def_fast(py::module_& m, const char* name, const char* doc) {
    auto* def = new PyMethodDef{name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fastcall<F>)),
                                METH_FASTCALL, doc};
    py::object f = py::reinterpret_steal<py::object>(PyCFunction_NewEx(def, nullptr, m.attr("__name__").ptr()));
    if (!f) throw py::error_already_set();
    m.add_object(name, f);
}

}  // namespace ember_small
