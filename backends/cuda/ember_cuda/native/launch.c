/* ember_cuda._launch: pack a kernel's arguments and call cuLaunchKernel in one C call.
 *
 * Built without CUDA headers: the one driver prototype used is declared here, and its address is
 * handed over at run time (init(address of cuLaunchKernel in libcuda.so.1), resolved by ctypes).
 * The GIL stays held for the whole call, so packing into a kernel's reusable argument buffer and
 * launching are atomic with respect to other Python threads.
 *
 *   init(fn_address) -> None
 *   pack(signature, buffer_address, args) -> None            (what launch packs; used by a self-check)
 *   launch(func, signature, buffer_address, params_address, gx, gy, gz, bx, by, bz, stream, args) -> int
 *
 * signature: one character per parameter, each in an 8-byte slot of the buffer:
 *   'p' address (uint64), 'q' int64, 'i' int32, 'I' uint32, 'f' float32, 'd' float64.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef int (*launch_fn)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                         unsigned shmem, void *stream, void **params, void **extra);

static launch_fn cu_launch = NULL;

static int pack_args(const char *sig, Py_ssize_t nsig, char *buf, PyObject *args) {
    PyObject *seq = PySequence_Fast(args, "kernel arguments must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != nsig) {
        PyErr_Format(PyExc_ValueError, "kernel signature %s has %zd parameters, got %zd arguments", sig, nsig, n);
        Py_DECREF(seq);
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = items[i];
        char *slot = buf + 8 * i;
        switch (sig[i]) {
            case 'p': {
                unsigned long long v = PyLong_AsUnsignedLongLong(o);
                if (v == (unsigned long long)-1 && PyErr_Occurred()) goto fail;
                memcpy(slot, &v, 8);
                break;
            }
            case 'q': {
                long long v = PyLong_AsLongLong(o);
                if (v == -1 && PyErr_Occurred()) goto fail;
                memcpy(slot, &v, 8);
                break;
            }
            case 'i': {
                long long v = PyLong_AsLongLong(o);
                if (v == -1 && PyErr_Occurred()) goto fail;
                if (v < INT32_MIN || v > INT32_MAX) { PyErr_SetString(PyExc_OverflowError, "int32 argument out of range"); goto fail; }
                int32_t w = (int32_t)v;
                memcpy(slot, &w, 4);
                break;
            }
            case 'I': {
                long long v = PyLong_AsLongLong(o);
                if (v == -1 && PyErr_Occurred()) goto fail;
                if (v < 0 || v > UINT32_MAX) { PyErr_SetString(PyExc_OverflowError, "uint32 argument out of range"); goto fail; }
                uint32_t w = (uint32_t)v;
                memcpy(slot, &w, 4);
                break;
            }
            case 'f': {
                double v = PyFloat_AsDouble(o);
                if (v == -1.0 && PyErr_Occurred()) goto fail;
                float w = (float)v;
                memcpy(slot, &w, 4);
                break;
            }
            case 'd': {
                double v = PyFloat_AsDouble(o);
                if (v == -1.0 && PyErr_Occurred()) goto fail;
                memcpy(slot, &v, 8);
                break;
            }
            default:
                PyErr_Format(PyExc_ValueError, "unknown signature character %c", sig[i]);
                goto fail;
        }
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

static PyObject *py_init(PyObject *self, PyObject *arg) {
    (void)self;
    unsigned long long a = PyLong_AsUnsignedLongLong(arg);
    if (a == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    cu_launch = (launch_fn)(uintptr_t)a;
    Py_RETURN_NONE;
}

static PyObject *py_pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "pack(signature, buffer_address, args)"); return NULL; }
    Py_ssize_t nsig;
    const char *sig = PyUnicode_AsUTF8AndSize(args[0], &nsig);
    if (!sig) return NULL;
    unsigned long long base = PyLong_AsUnsignedLongLong(args[1]);
    if (base == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (pack_args(sig, nsig, (char *)(uintptr_t)base, args[2]) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_launch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError,
                        "launch(func, signature, buffer, params, gx, gy, gz, bx, by, bz, stream, args)");
        return NULL;
    }
    if (!cu_launch) { PyErr_SetString(PyExc_RuntimeError, "ember_cuda._launch.init() was not called"); return NULL; }
    unsigned long long func = PyLong_AsUnsignedLongLong(args[0]);
    if (func == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    Py_ssize_t nsig;
    const char *sig = PyUnicode_AsUTF8AndSize(args[1], &nsig);
    if (!sig) return NULL;
    unsigned long long base = PyLong_AsUnsignedLongLong(args[2]);
    if (base == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    unsigned long long params = PyLong_AsUnsignedLongLong(args[3]);
    if (params == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    unsigned long dims[6];
    for (int i = 0; i < 6; i++) {
        dims[i] = PyLong_AsUnsignedLong(args[4 + i]);
        if (dims[i] == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    }
    unsigned long long stream = PyLong_AsUnsignedLongLong(args[10]);
    if (stream == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (pack_args(sig, nsig, (char *)(uintptr_t)base, args[11]) < 0) return NULL;
    int err = cu_launch((void *)(uintptr_t)func, (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2],
                        (unsigned)dims[3], (unsigned)dims[4], (unsigned)dims[5], 0, (void *)(uintptr_t)stream,
                        (void **)(uintptr_t)params, NULL);
    return PyLong_FromLong(err);
}

static PyMethodDef methods[] = {
    {"init", (PyCFunction)py_init, METH_O, "init(address of cuLaunchKernel)"},
    {"pack", (PyCFunction)(void (*)(void))py_pack, METH_FASTCALL, "pack(signature, buffer_address, args)"},
    {"launch", (PyCFunction)(void (*)(void))py_launch, METH_FASTCALL,
     "launch(func, signature, buffer, params, gx, gy, gz, bx, by, bz, stream, args) -> CUresult"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_launch", "Packs kernel arguments and calls cuLaunchKernel.",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__launch(void) { return PyModule_Create(&module); }
