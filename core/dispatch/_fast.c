/* ember.dispatch._fast: the dispatcher's native fast path.
 *
 * The Python dispatcher (operator.py: generated functions, adapters, the
 * Autograd key's entries in autograd/kernels.py) is the reference: it decides
 * every case. This module only shortens the common ones. A FastOp wraps an
 * operator's public function; when its arguments are the plain case a plan
 * was made for (tensors of one backend and dtype, no functionality key but
 * Autograd, no keyword argument), it calls the backend's array kernel on the
 * tensors' handles and builds the result tensor, and, under grad mode, the
 * FormulaNode the Autograd entry would have recorded, with no Python frame
 * between. Every other call goes to the wrapped function unchanged.
 *
 * Plans are made in Python (dispatch/fast.py) from the operator's own rules
 * and cached here per (dtype, backend key, aux); an operator or kernel
 * registration invalidates them all. It also holds the dispatcher's
 * thread-local state (keys included and allowed), which Python reads as
 * ember.dispatch.state.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* -- thread-local dispatch state ---------------------------------------------------------- */

static _Thread_local long long tl_included = 0;
static _Thread_local long long tl_allowed = -1;
static _Thread_local long long tl_inplace = 0;

typedef struct {
    PyObject_HEAD
} StateObject;

static int set_ll(PyObject *v, long long *dst, const char *name) {
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "dispatch state field %s cannot be deleted", name);
        return -1;
    }
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) return -1;
    *dst = x;
    return 0;
}

static PyObject *st_get_included(PyObject *s, void *c) { return PyLong_FromLongLong(tl_included); }
static PyObject *st_get_allowed(PyObject *s, void *c) { return PyLong_FromLongLong(tl_allowed); }
static PyObject *st_get_inplace(PyObject *s, void *c) { return PyLong_FromLongLong(tl_inplace); }
static int st_set_included(PyObject *s, PyObject *v, void *c) { return set_ll(v, &tl_included, "included"); }
static int st_set_allowed(PyObject *s, PyObject *v, void *c) { return set_ll(v, &tl_allowed, "allowed"); }
static int st_set_inplace(PyObject *s, PyObject *v, void *c) { return set_ll(v, &tl_inplace, "inplace_keys"); }

static PyGetSetDef state_getset[] = {
    {"included", st_get_included, st_set_included, "keys forced on in this thread", NULL},
    {"allowed", st_get_allowed, st_set_allowed, "mask of the keys allowed in this thread", NULL},
    {"inplace_keys", st_get_inplace, st_set_inplace, "keys in-place operators reach though not allowed", NULL},
    {NULL},
};

static PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ember.dispatch._fast.State",
    .tp_basicsize = sizeof(StateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The dispatcher's thread-local state: each thread sees its own values.",
    .tp_getset = state_getset,
    .tp_new = PyType_GenericNew,
};

/* -- configuration: classes and the offsets of their slots -------------------------------- */

enum { T_STORAGE, T_OFFSET, T_SHAPE, T_STRIDES, T_DTYPE, T_DEVICE, T_BACKEND, T_KEYS, T_H, T_BASE, T_N };
static const char *tensor_slots[T_N] = {"_storage", "_offset", "_shape", "_strides", "_dtype", "_device",
                                        "_backend", "_keys", "_h", "_base"};
enum { M_REQUIRES_GRAD, M_GRAD, M_GRAD_FN, M_OUTPUT_NR, M_ACC, M_HOOKS, M_RETAINS_GRAD, M_BASE, M_VIEW_HIST,
       M_HIST, M_VC, M_FW, M_FW_LEVEL, M_IS_VIEW_OF_LEAF, M_N };
static const char *meta_slots[M_N] = {"requires_grad", "grad", "grad_fn", "output_nr", "acc", "hooks",
                                      "retains_grad", "base", "view_hist", "hist", "vc", "fw", "fw_level",
                                      "is_view_of_leaf"};
enum { N_EDGES, N_SEQ, N_PRE_HOOKS, N_POST_HOOKS, N_FORMULA, N_ARGS, N_SAVED, N_VERSIONS, N_IN_INFO,
       N_OUT_INFO, N_RESULT, N_OPNAME, N_RELEASED, N_MULTI, N_N };
static const char *node_slots[N_N] = {"edges", "seq", "pre_hooks", "post_hooks", "formula", "args", "saved",
                                      "versions", "in_info", "out_info", "result", "opname", "released",
                                      "multi"};
enum { I_SHAPE, I_DTYPE, I_DEVICE, I__SHAPE, I__DTYPE, I__DEVICE, I__STRIDES, I_N };
static const char *info_slots[I_N] = {"shape", "dtype", "device", "_shape", "_dtype", "_device", "_strides"};

static struct {
    int ready;
    PyTypeObject *tensor, *parameter, *meta, *node, *info, *ndarray;
    Py_ssize_t t[T_N], m[M_N], n[N_N], i[I_N], fw_level;
    PyObject *fw_state;     /* forward-mode state object (slot "level": -1 when no dual level is active) */
    PyObject *seq;          /* the node sequence counter (itertools.count) */
    PyObject *edge_of;      /* autograd.graph.edge_of, for the cases this file leaves to Python */
    PyObject *asarray;      /* numpy.asarray */
    PyObject *zero, *one, *empty_tuple, *str_ag;
    PyObject *float_dtypes;  /* the dtypes whose tensors get gradients (category >= 2) */
    long long backend_mask, autograd_bit;
} C;

static unsigned long g_epoch = 1;   /* bumped by invalidate(): every cached plan is stale */

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))
static int is_float_tensor(PyObject *t) {
    if (!PyObject_TypeCheck(t, C.tensor)) return 0;
    PyObject *dt = SLOT(t, C.t[T_DTYPE]);
    Py_ssize_t n = PyTuple_GET_SIZE(C.float_dtypes);
    for (Py_ssize_t k = 0; k < n; k++) if (PyTuple_GET_ITEM(C.float_dtypes, k) == dt) return 1;
    return 0;
}

static int slot_offsets(PyObject *cls, const char **names, int n, Py_ssize_t *out) {
    for (int k = 0; k < n; k++) {
        PyObject *d = PyObject_GetAttrString(cls, names[k]);
        if (d == NULL) return -1;
        if (Py_TYPE(d) != &PyMemberDescr_Type) {
            PyErr_Format(PyExc_TypeError, "%R.%s is not a __slots__ member", cls, names[k]);
            Py_DECREF(d);
            return -1;
        }
        out[k] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
    }
    return 0;
}

/* Store v (a new reference is taken) into a slot, dropping what was there. */
static inline void put(PyObject *obj, Py_ssize_t off, PyObject *v) {
    PyObject *old = SLOT(obj, off);
    Py_INCREF(v);
    SLOT(obj, off) = v;
    Py_XDECREF(old);
}

/* Store a new reference, stolen. */
static inline void put_new(PyObject *obj, Py_ssize_t off, PyObject *v) {
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = v;
    Py_XDECREF(old);
}

static PyObject *configure(PyObject *mod, PyObject *args, PyObject *kw) {
    static char *names[] = {"tensor", "parameter", "autograd_meta", "formula_node", "tensor_info", "ndarray",
                            "fw_state", "seq", "edge_of", "asarray", "backend_mask", "autograd_bit",
                            "float_dtypes", NULL};
    PyObject *tensor, *parameter, *meta, *node, *info, *ndarray, *fw_state, *seq, *edge_of, *asarray, *fd;
    long long bm, ag;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O!O!O!O!O!OOOOLLO!", names, &PyType_Type, &tensor,
                                     &PyType_Type, &parameter, &PyType_Type, &meta, &PyType_Type, &node,
                                     &PyType_Type, &info, &PyType_Type, &ndarray, &fw_state, &seq, &edge_of,
                                     &asarray, &bm, &ag, &PyTuple_Type, &fd))
        return NULL;
    if (slot_offsets(tensor, tensor_slots, T_N, C.t) || slot_offsets(meta, meta_slots, M_N, C.m) ||
        slot_offsets(node, node_slots, N_N, C.n) || slot_offsets(info, info_slots, I_N, C.i))
        return NULL;
    const char *lv[] = {"level"};
    if (slot_offsets((PyObject *)Py_TYPE(fw_state), lv, 1, &C.fw_level)) return NULL;
    C.tensor = (PyTypeObject *)Py_NewRef(tensor);
    C.parameter = (PyTypeObject *)Py_NewRef(parameter);
    C.meta = (PyTypeObject *)Py_NewRef(meta);
    C.node = (PyTypeObject *)Py_NewRef(node);
    C.info = (PyTypeObject *)Py_NewRef(info);
    C.ndarray = (PyTypeObject *)Py_NewRef(ndarray);
    C.fw_state = Py_NewRef(fw_state);
    C.seq = Py_NewRef(seq);
    C.edge_of = Py_NewRef(edge_of);
    C.asarray = Py_NewRef(asarray);
    C.zero = PyLong_FromLong(0);
    C.one = PyLong_FromLong(1);
    C.empty_tuple = PyTuple_New(0);
    C.str_ag = PyUnicode_InternFromString("_ag");
    C.float_dtypes = Py_NewRef(fd);
    C.backend_mask = bm;
    C.autograd_bit = ag;
    C.ready = 1;
    Py_RETURN_NONE;
}

static PyObject *invalidate(PyObject *mod, PyObject *unused) {
    g_epoch++;
    Py_RETURN_NONE;
}

/* -- small pieces -------------------------------------------------------------------------- */

static inline int is_tensor(PyObject *x) {
    PyTypeObject *tp = Py_TYPE(x);
    return tp == C.tensor || tp == C.parameter;
}

static inline int keys_of(PyObject *t, long long *out) {
    PyObject *k = SLOT(t, C.t[T_KEYS]);
    if (k == NULL || !PyLong_CheckExact(k)) return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(k, &overflow);
    return !overflow && !(*out == -1 && PyErr_Occurred());
}

/* The handle of a tensor whose backend keeps its array there (cpu: the numpy view), or NULL. */
static inline PyObject *handle_of(PyObject *t) {
    PyObject *h = SLOT(t, C.t[T_H]);
    return (h == NULL || h == Py_None) ? NULL : h;
}

/* The tensor's array for the plan's kernel: its cached handle, else the backend's handle function makes
 * (and caches) it. A new reference, or NULL with an error set. */
static PyObject *array_of(PyObject *t, PyObject *plan) {
    PyObject *h = handle_of(t);
    if (h != NULL) return Py_NewRef(h);
    return PyObject_CallOneArg(PyTuple_GET_ITEM(plan, 6), t);
}

/* strides are the contiguous strides of shape (both tuples of ints), with Tensor's rule for sizes 0 and 1 */
static int is_contiguous(PyObject *shape, PyObject *strides) {
    if (!PyTuple_CheckExact(shape) || !PyTuple_CheckExact(strides)) return 0;
    Py_ssize_t n = PyTuple_GET_SIZE(shape);
    if (PyTuple_GET_SIZE(strides) != n) return 0;
    long long acc = 1;
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        long long s = PyLong_AsLongLong(PyTuple_GET_ITEM(strides, k));
        long long d = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, k));
        if (PyErr_Occurred()) { PyErr_Clear(); return 0; }
        if (s != acc) return 0;
        acc *= d > 1 ? d : 1;
    }
    return 1;
}

static PyObject *contiguous_strides2(long long rows, long long cols) {
    return Py_BuildValue("(LL)", cols > 1 ? cols : 1LL, 1LL);
}

/* A fresh tensor owning array r (a new reference, stolen). */
static PyObject *new_tensor(PyObject *r, PyObject *shape, PyObject *strides, PyObject *plan) {
    PyObject *t = C.tensor->tp_alloc(C.tensor, 0);
    if (t == NULL) { Py_DECREF(r); return NULL; }
    Py_ssize_t *o = C.t;
    put(t, o[T_STORAGE], r);
    put(t, o[T_OFFSET], C.zero);
    put(t, o[T_SHAPE], shape);
    put(t, o[T_STRIDES], strides);
    put(t, o[T_DTYPE], PyTuple_GET_ITEM(plan, 1));
    put(t, o[T_DEVICE], PyTuple_GET_ITEM(plan, 3));
    put(t, o[T_BACKEND], PyTuple_GET_ITEM(plan, 2));
    put(t, o[T_KEYS], PyTuple_GET_ITEM(plan, 4));
    put_new(t, o[T_H], r);
    put(t, o[T_BASE], Py_None);
    return t;
}

/* The kernel's result as an array (numpy returns scalars for 0-d results). */
static PyObject *as_array(PyObject *r) {
    if (r == NULL || Py_TYPE(r) == C.ndarray) return r;
    PyObject *a = PyObject_CallOneArg(C.asarray, r);
    Py_DECREF(r);
    return a;
}

static PyObject *tensor_info(PyObject *t) {
    PyObject *i = C.info->tp_alloc(C.info, 0);
    if (i == NULL) return NULL;
    PyObject *shape = SLOT(t, C.t[T_SHAPE]), *dtype = SLOT(t, C.t[T_DTYPE]), *dev = SLOT(t, C.t[T_DEVICE]);
    put(i, C.i[I_SHAPE], shape);
    put(i, C.i[I__SHAPE], shape);
    put(i, C.i[I_DTYPE], dtype);
    put(i, C.i[I__DTYPE], dtype);
    put(i, C.i[I_DEVICE], dev);
    put(i, C.i[I__DEVICE], dev);
    put(i, C.i[I__STRIDES], SLOT(t, C.t[T_STRIDES]));
    return i;
}

static PyObject *new_meta(void) {
    PyObject *m = C.meta->tp_alloc(C.meta, 0);
    if (m == NULL) return NULL;
    static PyObject *minus_one = NULL;
    if (minus_one == NULL) minus_one = PyLong_FromLong(-1);
    Py_ssize_t *o = C.m;
    put(m, o[M_REQUIRES_GRAD], Py_False);
    put(m, o[M_GRAD], Py_None);
    put(m, o[M_GRAD_FN], Py_None);
    put(m, o[M_OUTPUT_NR], C.zero);
    put(m, o[M_ACC], Py_None);
    put(m, o[M_HOOKS], Py_None);
    put(m, o[M_RETAINS_GRAD], Py_False);
    put(m, o[M_BASE], Py_None);
    put(m, o[M_VIEW_HIST], C.zero);
    put(m, o[M_HIST], C.zero);
    put(m, o[M_VC], Py_None);
    put(m, o[M_FW], Py_None);
    put(m, o[M_FW_LEVEL], minus_one);
    put(m, o[M_IS_VIEW_OF_LEAF], Py_False);
    return m;
}

/* t._ag, a new reference (None when the tensor has none). */
static PyObject *ag_of(PyObject *t) {
    PyObject *m = PyObject_GetAttr(t, C.str_ag);
    if (m == NULL) {   /* _ag lives in the instance dict or is the class default None: no other error */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return m;
}

/* Whether no forward-mode dual level is active (the Python entries handle tangents). */
static int no_dual_level(void) {
    PyObject *lvl = SLOT(C.fw_state, C.fw_level);
    int overflow = 0;
    return lvl != NULL && PyLong_CheckExact(lvl) && PyLong_AsLongAndOverflow(lvl, &overflow) < 0 && !overflow;
}

/* autograd.graph.edge_of: the (node, output_nr) gradient reaches t through, or None. -1 on error. */
static int edge_of(PyObject *t, PyObject *m, PyObject **edge) {
    *edge = NULL;
    if (m == Py_None || Py_TYPE(m) != C.meta) return 0;
    PyObject *rg = SLOT(m, C.m[M_REQUIRES_GRAD]);
    if (rg != Py_True) {
        if (rg == NULL || rg == Py_False) return 0;
        int truth = PyObject_IsTrue(rg);
        if (truth <= 0) return truth;
    }
    PyObject *fn = SLOT(m, C.m[M_GRAD_FN]);
    PyObject *acc = SLOT(m, C.m[M_ACC]);
    int stale = 0;
    PyObject *base = SLOT(m, C.m[M_BASE]);
    if (base != Py_None) {   /* refresh_view has work only when the base's history moved on */
        PyObject *bm = ag_of(base);
        if (bm != Py_None && Py_TYPE(bm) == C.meta) {
            int eq = PyObject_RichCompareBool(SLOT(m, C.m[M_VIEW_HIST]), SLOT(bm, C.m[M_HIST]), Py_EQ);
            stale = eq != 1;
            if (eq < 0) PyErr_Clear();
        } else if (bm != Py_None) {
            stale = 1;
        }
        Py_DECREF(bm);
    }
    if (stale || (fn == Py_None && acc == Py_None)) {
        /* a view's history to refresh, or a leaf's first AccumulateGrad: Python's edge_of decides */
        PyObject *e = PyObject_CallOneArg(C.edge_of, t);
        if (e == NULL) return -1;
        if (e == Py_None) { Py_DECREF(e); return 0; }
        *edge = e;
        return 0;
    }
    if (fn != Py_None) {
        *edge = PyTuple_Pack(2, fn, SLOT(m, C.m[M_OUTPUT_NR]));
    } else {
        *edge = PyTuple_Pack(2, acc, C.zero);
    }
    return *edge == NULL ? -1 : 0;
}

/* Mark a saved input as tracked (an in-place change then bumps its version), as _saved_args does. */
static int track(PyObject *x) {
    PyObject *m = ag_of(x);
    int rg = m != Py_None && SLOT(m, C.m[M_REQUIRES_GRAD]) == Py_True;
    if (!rg) {
        if (m == Py_None) {
            Py_DECREF(m);
            m = new_meta();
            if (m == NULL || PyObject_SetAttr(x, C.str_ag, m) < 0) { Py_XDECREF(m); return -1; }
        }
        long long k;
        if (!keys_of(x, &k)) { Py_DECREF(m); PyErr_SetString(PyExc_TypeError, "tensor keys"); return -1; }
        PyObject *nk = PyLong_FromLongLong(k | C.autograd_bit);
        if (nk == NULL) { Py_DECREF(m); return -1; }
        put_new(x, C.t[T_KEYS], nk);
    }
    Py_DECREF(m);
    return 0;
}

static PyObject *version_of(PyObject *t) {
    PyObject *root = SLOT(t, C.t[T_BASE]);
    if (root == NULL || root == Py_None) root = t;
    PyObject *m = ag_of(root);
    PyObject *v;
    if (m == Py_None || Py_TYPE(m) != C.meta || SLOT(m, C.m[M_VC]) == Py_None) {
        v = Py_NewRef(C.zero);
    } else {
        v = PySequence_GetItem(SLOT(m, C.m[M_VC]), 0);
    }
    Py_DECREF(m);
    return v;
}

/* A view of x: x's storage, dtype, device and keys with new geometry (Tensor._view). */
static PyObject *new_view(PyObject *x, PyObject *shape, PyObject *strides, PyObject *offset) {
    PyObject *t = C.tensor->tp_alloc(C.tensor, 0);
    if (t == NULL) return NULL;
    Py_ssize_t *o = C.t;
    PyObject *base = SLOT(x, o[T_BASE]);
    put(t, o[T_STORAGE], SLOT(x, o[T_STORAGE]));
    put(t, o[T_OFFSET], offset);
    put(t, o[T_SHAPE], shape);
    put(t, o[T_STRIDES], strides);
    put(t, o[T_DTYPE], SLOT(x, o[T_DTYPE]));
    put(t, o[T_DEVICE], SLOT(x, o[T_DEVICE]));
    put(t, o[T_BACKEND], SLOT(x, o[T_BACKEND]));
    put(t, o[T_KEYS], SLOT(x, o[T_KEYS]));
    put(t, o[T_H], Py_None);
    put(t, o[T_BASE], base == Py_None ? x : base);
    return t;
}

/* autograd.graph.detached: an alias of t's data that shares its version counter but not its history
 * (what a node keeps of its own output). */
static PyObject *detached(PyObject *t) {
    PyObject *root = SLOT(t, C.t[T_BASE]);
    if (root == NULL || root == Py_None) root = t;
    PyObject *rm = ag_of(root);
    if (rm == Py_None) {
        Py_DECREF(rm);
        if ((rm = new_meta()) == NULL || PyObject_SetAttr(root, C.str_ag, rm) < 0) { Py_XDECREF(rm); return NULL; }
    }
    if (SLOT(rm, C.m[M_VC]) == Py_None) {
        PyObject *vc = Py_BuildValue("[i]", 0);
        if (vc == NULL) { Py_DECREF(rm); return NULL; }
        put_new(rm, C.m[M_VC], vc);
    }
    PyObject *a = new_view(t, SLOT(t, C.t[T_SHAPE]), SLOT(t, C.t[T_STRIDES]), SLOT(t, C.t[T_OFFSET]));
    PyObject *m = a ? new_meta() : NULL;
    long long k;
    if (m == NULL || !keys_of(t, &k)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "tensor keys");
        Py_XDECREF(a); Py_XDECREF(m); Py_DECREF(rm); return NULL;
    }
    put(a, C.t[T_BASE], Py_None);
    PyObject *nk = PyLong_FromLongLong(k & ~C.autograd_bit);
    if (nk == NULL) { Py_DECREF(a); Py_DECREF(m); Py_DECREF(rm); return NULL; }
    put_new(a, C.t[T_KEYS], nk);
    put(m, C.m[M_VC], SLOT(rm, C.m[M_VC]));
    Py_DECREF(rm);
    int rc = PyObject_SetAttr(a, C.str_ag, m);
    Py_DECREF(m);
    if (rc < 0) { Py_DECREF(a); return NULL; }
    return a;
}

/* -- recording: the Autograd entry's _record for one output --------------------------------------- */

/* grad plan: (node_cls, formula, opname, save, tail, out_is_float, is_view, saved outputs)
 *   save: per tensor argument, -1 never saved (kept as TensorInfo), 0 always saved, or a bit mask of
 *   edges: saved when one of those edges is present (the formula's save_if).
 *   tail: the remaining schema-order arguments (their defaults), appended to args.
 *   out_is_float: the output gets a gradient (None: decide by the output's dtype).
 *   saved outputs: True (the formula reads the output(s)), False, or per output a bool.
 * args: the call's schema-order arguments; tpos: the positions of the ntens tensor arguments (NULL: the
 * first ntens). outs: the nout outputs (several: an operator returning a tuple, whose node is multi and
 * whose outputs get gradients by their dtypes). Returns 0, or -1 with an exception set. */
#define MAXT 8
#define MAXOUT 4
static int record_outs(PyObject *gp, PyObject *const *args, int nargs, const int *tpos, int ntens,
                       PyObject **edges, PyObject **outs, int nout) {
    PyObject *node_cls = PyTuple_GET_ITEM(gp, 0), *save = PyTuple_GET_ITEM(gp, 3), *tail = PyTuple_GET_ITEM(gp, 4);
    PyObject *of = PyTuple_GET_ITEM(gp, 5);
    int multi = nout > 1, out_float[MAXOUT];
    if (nout < 1 || nout > MAXOUT) {
        PyErr_Format(PyExc_SystemError, "record_outs: %d outputs (1 to %d)", nout, MAXOUT);
        return -1;
    }
    for (int j = 0; j < nout; j++)
        out_float[j] = (of == Py_True && !multi) || ((of == Py_None || multi) && is_float_tensor(outs[j]));
    int is_view = PyTuple_GET_ITEM(gp, 6) == Py_True && !multi;
    unsigned present = 0;
    for (int k = 0; k < ntens; k++) if (edges[k]) present |= 1u << k;
    Py_ssize_t ntail = PyTuple_GET_SIZE(tail);
    PyObject *edge_list = PyList_New(ntens), *infos = PyList_New(ntens), *sargs = PyTuple_New(nargs + ntail);
    PyObject *keep = PyList_New(0), *versions = NULL, *out_info = NULL, *node = NULL, *m = NULL, *result = NULL;
    if (!edge_list || !infos || !sargs || !keep) goto fail;
    for (int i = 0; i < nargs; i++) PyTuple_SET_ITEM(sargs, i, Py_NewRef(args[i]));
    for (int k = 0; k < ntens; k++) {
        int i = tpos ? tpos[k] : k;
        PyObject *x = args[i], *arg;
        int tensor = PyObject_TypeCheck(x, C.tensor);
        PyList_SET_ITEM(edge_list, k, Py_NewRef(edges[k] ? edges[k] : Py_None));
        /* in_info: what the gradient of an input with an edge is fitted to */
        PyObject *info = edges[k] ? tensor_info(x) : Py_NewRef(Py_None);
        if (info == NULL) goto fail;
        PyList_SET_ITEM(infos, k, info);
        long rule = PyLong_AsLong(PyTuple_GET_ITEM(save, k));
        if (!tensor) continue;
        if (rule == 0 || (rule > 0 && (rule & present))) {
            if (PyList_Append(keep, x) < 0 || track(x) < 0) goto fail;
            continue;
        }
        arg = tensor_info(x);   /* an unsaved tensor argument: backward keeps its shape and dtype */
        if (arg == NULL) goto fail;
        Py_SETREF(PyTuple_GET_ITEM(sargs, i), arg);
    }
    for (Py_ssize_t k = 0; k < ntail; k++) PyTuple_SET_ITEM(sargs, nargs + k, Py_NewRef(PyTuple_GET_ITEM(tail, k)));
    PyObject *want = PyTuple_GET_ITEM(gp, 7);   /* True, or per output (a tuple of bools) */
    if (want == Py_True || PyTuple_CheckExact(want)) {   /* the formula reads output(s): keep aliases */
        if (multi && (result = PyTuple_New(nout)) == NULL) goto fail;
        for (int j = 0; j < nout; j++) {
            if (PyTuple_CheckExact(want) && (j >= PyTuple_GET_SIZE(want) || PyTuple_GET_ITEM(want, j) != Py_True)) {
                if (multi) PyTuple_SET_ITEM(result, j, Py_NewRef(Py_None));   /* not saved */
                continue;
            }
            PyObject *d = detached(outs[j]);   /* (gives the output autograd metadata: its version counter) */
            if (d == NULL || track(outs[j]) < 0) { Py_XDECREF(d); goto fail; }   /* in-place changes bump it */
            int rc = PyList_Append(keep, d);
            if (multi) PyTuple_SET_ITEM(result, j, d);
            else result = d;
            if (rc < 0) goto fail;
        }
    }
    Py_ssize_t nkeep = PyList_GET_SIZE(keep);
    versions = PyTuple_New(nkeep);
    if (versions == NULL) goto fail;
    for (Py_ssize_t k = 0; k < nkeep; k++) {
        PyObject *v = version_of(PyList_GET_ITEM(keep, k));
        if (v == NULL) goto fail;
        PyTuple_SET_ITEM(versions, k, v);
    }
    if ((out_info = PyTuple_New(nout)) == NULL) goto fail;
    for (int j = 0; j < nout; j++) {
        PyObject *oi = out_float[j] ? tensor_info(outs[j]) : Py_NewRef(Py_None);
        if (oi == NULL) goto fail;
        PyTuple_SET_ITEM(out_info, j, oi);
    }
    node = ((PyTypeObject *)node_cls)->tp_alloc((PyTypeObject *)node_cls, 0);
    if (node == NULL) goto fail;
    PyObject *seq = PyIter_Next(C.seq);
    if (seq == NULL) goto fail;
    Py_ssize_t *o = C.n;
    put_new(node, o[N_EDGES], edge_list); edge_list = NULL;
    put_new(node, o[N_SEQ], seq);
    put(node, o[N_PRE_HOOKS], Py_None);
    put(node, o[N_POST_HOOKS], Py_None);
    put(node, o[N_FORMULA], PyTuple_GET_ITEM(gp, 1));
    put(node, o[N_OPNAME], PyTuple_GET_ITEM(gp, 2));
    put_new(node, o[N_ARGS], sargs); sargs = NULL;
    put_new(node, o[N_SAVED], keep); keep = NULL;
    put_new(node, o[N_VERSIONS], versions); versions = NULL;
    put_new(node, o[N_IN_INFO], infos); infos = NULL;
    put_new(node, o[N_OUT_INFO], out_info); out_info = NULL;
    put_new(node, o[N_RESULT], result ? result : Py_NewRef(Py_None)); result = NULL;
    put(node, o[N_RELEASED], Py_False);
    put(node, o[N_MULTI], multi ? Py_True : Py_False);
    for (int j = 0; j < nout; j++) {
        if (!out_float[j]) continue;
        PyObject *out = outs[j];
        m = ag_of(out);   /* an output that has autograd metadata keeps it (Python's _record does too) */
        int fresh = m == Py_None;
        if (fresh) {
            Py_DECREF(m);
            m = new_meta();
            if (m == NULL) goto fail;
        } else if (Py_TYPE(m) != C.meta) {
            PyErr_SetString(PyExc_TypeError, "tensor._ag is not autograd metadata");
            goto fail;
        }
        put(m, C.m[M_REQUIRES_GRAD], Py_True);
        put(m, C.m[M_GRAD_FN], node);
        PyObject *nr = PyLong_FromLong(j);
        if (nr == NULL) goto fail;
        put_new(m, C.m[M_OUTPUT_NR], nr);
        if (is_view) {
            /* an autograd view: its base is the source's base, or the source itself */
            PyObject *src = args[0], *sm = ag_of(src), *base;
            base = (sm != Py_None && SLOT(sm, C.m[M_BASE]) != Py_None) ? SLOT(sm, C.m[M_BASE]) : src;
            Py_INCREF(base);
            Py_DECREF(sm);
            PyObject *bm = ag_of(base);
            if (bm == Py_None) {
                Py_DECREF(bm);
                if ((bm = new_meta()) == NULL || PyObject_SetAttr(base, C.str_ag, bm) < 0) {
                    Py_XDECREF(bm); Py_DECREF(base); goto fail;
                }
            }
            put_new(m, C.m[M_BASE], base);
            put(m, C.m[M_VIEW_HIST], SLOT(bm, C.m[M_HIST]));
            Py_DECREF(bm);
        }
        if (fresh && PyObject_SetAttr(out, C.str_ag, m) < 0) goto fail;
        long long k;
        if (!keys_of(out, &k)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "tensor keys");
            goto fail;
        }
        PyObject *nk = PyLong_FromLongLong(k | C.autograd_bit);
        if (nk == NULL) goto fail;
        put_new(out, C.t[T_KEYS], nk);
        Py_CLEAR(m);
    }
    Py_DECREF(node);
    return 0;
fail:
    Py_XDECREF(edge_list); Py_XDECREF(infos); Py_XDECREF(sargs); Py_XDECREF(keep); Py_XDECREF(versions);
    Py_XDECREF(out_info); Py_XDECREF(node); Py_XDECREF(m); Py_XDECREF(result);
    return -1;
}

/* record_outs for one output: out (a new reference, stolen) is returned, or NULL. */
static PyObject *record(PyObject *gp, PyObject *const *args, int nargs, const int *tpos, int ntens,
                        PyObject **edges, PyObject *out) {
    if (record_outs(gp, args, nargs, tpos, ntens, edges, &out, 1) < 0) Py_CLEAR(out);
    return out;
}

/* -- FastOp --------------------------------------------------------------------------------- */

enum { K_BINARY = 1, K_REDUCE_ALL = 2, K_MATMUL = 3, K_INPLACE = 4, K_TRANSPOSE = 5, K_SELECT = 6, K_GETITEM = 7,
       K_AUTOGRAD = 8, K_UNARY = 9, K_LINEAR = 10, K_VIEWSHAPE = 11, K_T = 12 };
#define CACHE 24

typedef struct {
    unsigned long epoch;
    PyObject *dtype;        /* borrowed: dtypes live as long as the process */
    long long bbit;
    long aux;
    PyObject *plan;         /* (kernel, out_dtype, backend, device, out_keys, grad_plan, handle) or None */
} Entry;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fallback, *planner, *dict;
    PyObject *extra;        /* K_AUTOGRAD: (the operator's positional function, grad plan, tensor positions) */
    int kind, n, next;
    Entry cache[CACHE];
} FastOp;

static PyObject MISS_OBJ;   /* a sentinel: "not the fast case, call the fallback" */
#define MISS (&MISS_OBJ)

/* A call uses its plan as a borrowed reference from the cache. While it runs Python code (a handle
 * function, a kernel, edge_of; another thread meanwhile) another call may replace that cache entry
 * (after invalidate(), or in a full cache): the plan it drops is kept until no call is in progress. */
static long g_calls = 0;            /* FastOp calls in progress, all threads together (the GIL orders them) */
static PyObject *g_retired = NULL;  /* plans replaced while another call was in progress */

static void retire(PyObject *old) {
    if (g_calls <= 1) {   /* only the call replacing it, which has not used a plan yet */
        Py_DECREF(old);
        return;
    }
    if (g_retired == NULL) g_retired = PyList_New(0);
    if (g_retired == NULL || PyList_Append(g_retired, old) < 0) {
        PyErr_Clear();   /* out of memory: the plan is kept for good rather than freed in use */
        return;
    }
    Py_DECREF(old);
}

static PyObject *plan_for(FastOp *f, PyObject *dtype, long long bbit, long aux, PyObject *const *args,
                          Py_ssize_t nargs) {
    for (int k = 0; k < f->n; k++) {
        Entry *e = &f->cache[k];
        if (e->dtype == dtype && e->bbit == bbit && e->aux == aux && e->epoch == g_epoch) return e->plan;
    }
    PyObject *plan = PyObject_Vectorcall(f->planner, args, nargs, NULL);
    if (plan == NULL) return NULL;
    if (plan != Py_None && (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 7)) {
        Py_DECREF(plan);
        PyErr_SetString(PyExc_TypeError, "fast-path planner must return a 7-tuple or None");
        return NULL;
    }
    Entry *e = NULL;
    for (int k = 0; k < f->n; k++) if (f->cache[k].epoch != g_epoch) { e = &f->cache[k]; break; }
    if (e == NULL) {
        if (f->n < CACHE) e = &f->cache[f->n++];
        else { e = &f->cache[f->next]; f->next = (f->next + 1) % CACHE; }
    }
    PyObject *old = e->plan;
    e->plan = plan;
    if (old != NULL) retire(old);
    e->dtype = dtype;
    e->bbit = bbit;
    e->aux = aux;
    e->epoch = g_epoch;
    return plan;
}

/* The call's plan (borrowed), MISS where there is none or, under grad mode, it has no record, or NULL on error. */
static PyObject *usable_plan(FastOp *f, PyObject *dtype, long long bbit, long aux, PyObject *const *args,
                             Py_ssize_t nargs, int grad) {
    PyObject *plan = plan_for(f, dtype, bbit, aux, args, nargs);
    if (plan == NULL) return NULL;
    return plan == Py_None || (grad && PyTuple_GET_ITEM(plan, 5) == Py_None) ? MISS : plan;
}

/* The key set of a call: the functionality part must be empty or Autograd alone (*grad), and the
 * backend part one key. Returns 0 when the call is not the fast case. */
static inline int key_check(long long ks, long long *bbit, int *grad) {
    if (tl_included != 0) return 0;
    ks &= tl_allowed;
    long long func = ks & ~C.backend_mask;
    *bbit = ks & C.backend_mask;
    if (*bbit == 0 || (*bbit & (*bbit - 1))) return 0;
    if (func == 0) { *grad = 0; return 1; }
    if (func != C.autograd_bit) return 0;
    if (!no_dual_level()) return 0;
    *grad = 1;
    return 1;
}

/* After the computation: under grad mode, the Autograd entry's record (or, with no input needing a
 * gradient, its _clean: a view does not keep the Autograd bit it copied). */
static PyObject *finish_gp(PyObject *gp, int grad, PyObject *out, PyObject **args, int nargs, int ntens);
static int finish_outs(PyObject *gp, int grad, PyObject **outs, int nout, PyObject **args, int nargs, int ntens);

static PyObject *finish(PyObject *plan, int grad, PyObject *out, PyObject **args, int nargs, int ntens) {
    return finish_gp(PyTuple_GET_ITEM(plan, 5), grad, out, args, nargs, ntens);
}

static int finish_outs(PyObject *gp, int grad, PyObject **outs, int nout, PyObject **args, int nargs, int ntens) {
    if (!grad) return 0;
    PyObject *edges[MAXT] = {NULL};
    int need = 0, rc = 0;
    for (int k = 0; k < ntens; k++) {
        if (!is_tensor(args[k])) continue;
        PyObject *m = ag_of(args[k]);
        rc = edge_of(args[k], m, &edges[k]);
        Py_DECREF(m);
        if (rc < 0) break;
        need |= edges[k] != NULL;
    }
    if (rc == 0 && need) {
        rc = record_outs(gp, args, nargs, NULL, ntens, edges, outs, nout);
    } else if (rc == 0) {
        for (int j = 0; j < nout; j++) {
            long long k;
            if (keys_of(outs[j], &k) && (k & C.autograd_bit)) {
                PyObject *nk = PyLong_FromLongLong(k & ~C.autograd_bit);
                if (nk == NULL) { rc = -1; break; }
                put_new(outs[j], C.t[T_KEYS], nk);
            }
        }
    }
    for (int k = 0; k < ntens; k++) Py_XDECREF(edges[k]);
    return rc;
}

static PyObject *finish_gp(PyObject *gp, int grad, PyObject *out, PyObject **args, int nargs, int ntens) {
    if (out != NULL && finish_outs(gp, grad, &out, 1, args, nargs, ntens) < 0) Py_CLEAR(out);
    return out;
}

/* The broadcast of two shapes (numpy's and PyTorch's rule), a new tuple; NULL (no error) when they do not
 * broadcast or are not tuples of ints. */
static PyObject *broadcast_shape(PyObject *sa, PyObject *sb) {
    if (!PyTuple_CheckExact(sa) || !PyTuple_CheckExact(sb)) return NULL;
    Py_ssize_t na = PyTuple_GET_SIZE(sa), nb = PyTuple_GET_SIZE(sb), n = na > nb ? na : nb;
    PyObject *out = PyTuple_New(n);
    if (out == NULL) { PyErr_Clear(); return NULL; }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *x = k < n - na ? NULL : PyTuple_GET_ITEM(sa, k - (n - na));
        PyObject *y = k < n - nb ? NULL : PyTuple_GET_ITEM(sb, k - (n - nb));
        long long dx = x ? PyLong_AsLongLong(x) : 1, dy = y ? PyLong_AsLongLong(y) : 1;
        if (PyErr_Occurred()) { PyErr_Clear(); Py_DECREF(out); return NULL; }
        if (dx != dy && dx != 1 && dy != 1) { Py_DECREF(out); return NULL; }
        PyObject *pick = dx == 1 ? (y ? y : x) : x;
        PyTuple_SET_ITEM(out, k, Py_NewRef(pick));
    }
    return out;
}

/* Contiguous strides of a shape (Tensor's rule: sizes 0 and 1 do not scale), a new tuple. */
static PyObject *contiguous_strides(PyObject *shape) {
    Py_ssize_t n = PyTuple_GET_SIZE(shape);
    PyObject *out = PyTuple_New(n);
    long long acc = 1;
    for (Py_ssize_t k = n - 1; out && k >= 0; k--) {
        PyObject *v = PyLong_FromLongLong(acc);
        if (v == NULL) { Py_CLEAR(out); break; }
        PyTuple_SET_ITEM(out, k, v);
        long long d = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, k));
        acc *= d > 1 ? d : 1;
    }
    return out;
}

/* Whether an array's buffer is C-contiguous (a kernel's result from broadcast operands). */
static int buffer_c_contiguous(PyObject *r) {
    Py_buffer view;
    if (PyObject_GetBuffer(r, &view, PyBUF_C_CONTIGUOUS) < 0) { PyErr_Clear(); return 0; }
    PyBuffer_Release(&view);
    return 1;
}

/* The operand test binary and in-place share: a contiguous tensor a, and b either a contiguous tensor of
 * a's dtype or a Python float or int that fits int64. Sets *aux (0 tensor, 1 float, 2 int), the operands'
 * keys, and *bshape: NULL when the shapes are equal (or b is a number), else the broadcast shape (a new
 * reference). Returns 0 when the call is not the fast case. */
static int binary_operands(PyObject *a, PyObject *b, long *aux, long long *keys, PyObject **bshape) {
    long long ka, kb = 0;
    *bshape = NULL;
    if (!is_tensor(a) || !keys_of(a, &ka)) return 0;
    PyObject *shape = SLOT(a, C.t[T_SHAPE]);
    if (!is_contiguous(shape, SLOT(a, C.t[T_STRIDES]))) return 0;
    if (is_tensor(b)) {
        if (!keys_of(b, &kb) || SLOT(b, C.t[T_DTYPE]) != SLOT(a, C.t[T_DTYPE])) return 0;
        PyObject *sb = SLOT(b, C.t[T_SHAPE]);
        if (!is_contiguous(sb, SLOT(b, C.t[T_STRIDES]))) return 0;
        if (sb != shape) {
            int eq = PyObject_RichCompareBool(sb, shape, Py_EQ);
            if (eq < 0) { PyErr_Clear(); return 0; }
            if (!eq && (*bshape = broadcast_shape(shape, sb)) == NULL) return 0;
        }
        *aux = 0;
    } else if (PyFloat_CheckExact(b)) {
        *aux = 1;
    } else if (PyLong_CheckExact(b)) {
        int overflow;
        PyLong_AsLongLongAndOverflow(b, &overflow);
        if (overflow) return 0;
        *aux = 2;
    } else {
        return 0;
    }
    *keys = ka | kb;
    return 1;
}

/* kernel(array of a, array of b or the number b[, out]) */
static PyObject *call_binary(PyObject *plan, PyObject *a, PyObject *b, int inplace) {
    PyObject *x = array_of(a, plan), *y = NULL, *r = NULL;
    if (x == NULL) return NULL;
    y = is_tensor(b) ? array_of(b, plan) : Py_NewRef(b);
    if (y != NULL) {
        PyObject *argv[3] = {x, y, x};
        r = PyObject_Vectorcall(PyTuple_GET_ITEM(plan, 0), argv, inplace ? 3 : 2, NULL);
    }
    Py_DECREF(x);
    Py_XDECREF(y);
    return r;
}

static PyObject *binary(FastOp *f, PyObject *a, PyObject *b) {
    long long ks, bbit;
    long aux;
    int grad;
    PyObject *bshape;
    if (!binary_operands(a, b, &aux, &ks, &bshape)) return MISS;
    if (!key_check(ks, &bbit, &grad)) { Py_XDECREF(bshape); return MISS; }
    PyObject *args[2] = {a, b};
    PyObject *plan = usable_plan(f, SLOT(a, C.t[T_DTYPE]), bbit, aux, args, 2, grad);
    if (plan == NULL || plan == MISS) {
        Py_XDECREF(bshape);
        return plan;
    }
    PyObject *r = as_array(call_binary(plan, a, b, 0)), *out;
    if (r == NULL) { Py_XDECREF(bshape); return NULL; }
    if (bshape == NULL) {
        out = new_tensor(r, SLOT(a, C.t[T_SHAPE]), SLOT(a, C.t[T_STRIDES]), plan);
    } else {
        PyObject *strides = buffer_c_contiguous(r) ? contiguous_strides(bshape) : NULL;
        if (strides == NULL) {   /* a layout the Python path wraps itself */
            Py_DECREF(r);
            Py_DECREF(bshape);
            if (PyErr_Occurred()) return NULL;
            return MISS;
        }
        out = new_tensor(r, bshape, strides, plan);
        Py_DECREF(strides);
        Py_DECREF(bshape);
    }
    return finish(plan, grad, out, args, 2, 2);
}

/* op(a) elementwise on a contiguous tensor: the array kernel on its array, the result of a's shape. */
static PyObject *unary(FastOp *f, PyObject *a) {
    long long ka, bbit;
    int grad;
    if (!is_tensor(a) || !keys_of(a, &ka)) return MISS;
    PyObject *shape = SLOT(a, C.t[T_SHAPE]), *strides = SLOT(a, C.t[T_STRIDES]);
    if (!is_contiguous(shape, strides) || !key_check(ka, &bbit, &grad)) return MISS;
    PyObject *args[1] = {a};
    PyObject *plan = usable_plan(f, SLOT(a, C.t[T_DTYPE]), bbit, 0, args, 1, grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *x = array_of(a, plan);
    if (x == NULL) return NULL;
    PyObject *r = as_array(PyObject_CallOneArg(PyTuple_GET_ITEM(plan, 0), x));
    Py_DECREF(x);
    if (r == NULL) return NULL;
    PyObject *out = new_tensor(r, shape, strides, plan);
    return finish(plan, grad, out, args, 1, 1);
}

static PyObject *reduce_all(FastOp *f, PyObject *a) {
    long long ka, bbit;
    int grad;
    if (!is_tensor(a) || !keys_of(a, &ka)) return MISS;
    PyObject *shape = SLOT(a, C.t[T_SHAPE]);
    if (!PyTuple_CheckExact(shape) || !key_check(ka, &bbit, &grad)) return MISS;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(shape); k++)   /* empty: Python decides (max of nothing) */
        if (PyTuple_GET_ITEM(shape, k) == C.zero) return MISS;
    PyObject *args[1] = {a};
    PyObject *plan = usable_plan(f, SLOT(a, C.t[T_DTYPE]), bbit, (long)PyTuple_GET_SIZE(shape), args, 1, grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *x = array_of(a, plan);
    if (x == NULL) return NULL;
    PyObject *r = as_array(PyObject_CallOneArg(PyTuple_GET_ITEM(plan, 0), x));
    Py_DECREF(x);
    if (r == NULL) return NULL;
    PyObject *out = new_tensor(r, C.empty_tuple, C.empty_tuple, plan);
    return finish(plan, grad, out, args, 1, 1);
}

static PyObject *matmul(FastOp *f, PyObject *a, PyObject *b) {
    long long ka, kb, bbit;
    int grad;
    if (!is_tensor(a) || !is_tensor(b) || !keys_of(a, &ka) || !keys_of(b, &kb)) return MISS;
    PyObject *sa = SLOT(a, C.t[T_SHAPE]), *sb = SLOT(b, C.t[T_SHAPE]);
    PyObject *dtype = SLOT(a, C.t[T_DTYPE]);
    if (SLOT(b, C.t[T_DTYPE]) != dtype || !PyTuple_CheckExact(sa) || !PyTuple_CheckExact(sb) ||
        PyTuple_GET_SIZE(sa) != 2 || PyTuple_GET_SIZE(sb) != 2)
        return MISS;
    long long m = PyLong_AsLongLong(PyTuple_GET_ITEM(sa, 0)), k1 = PyLong_AsLongLong(PyTuple_GET_ITEM(sa, 1));
    long long k2 = PyLong_AsLongLong(PyTuple_GET_ITEM(sb, 0)), p = PyLong_AsLongLong(PyTuple_GET_ITEM(sb, 1));
    if (PyErr_Occurred()) { PyErr_Clear(); return MISS; }
    if (k1 != k2) return MISS;   /* the Python path names the shapes */
    if (!key_check(ka | kb, &bbit, &grad)) return MISS;
    PyObject *args[2] = {a, b};
    PyObject *plan = usable_plan(f, dtype, bbit, 0, args, 2, grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *r = as_array(call_binary(plan, a, b, 0));
    if (r == NULL) return NULL;
    PyObject *shape = Py_BuildValue("(LL)", m, p), *strides = contiguous_strides2(m, p);
    PyObject *out = (shape && strides) ? new_tensor(r, shape, strides, plan) : (Py_DECREF(r), NULL);
    Py_XDECREF(shape);
    Py_XDECREF(strides);
    return finish(plan, grad, out, args, 2, 2);
}

/* a op= b on one dtype and shape (or a Python number), neither tensor tracked by autograd: the array
 * kernel writes into a's array; the result is a itself. */
static PyObject *inplace(FastOp *f, PyObject *a, PyObject *b) {
    long long ks, bbit;
    long aux;
    int grad;
    PyObject *bshape;
    if (!binary_operands(a, b, &aux, &ks, &bshape)) return MISS;
    if (bshape != NULL) { Py_DECREF(bshape); return MISS; }   /* in place: one shape only */
    if (is_tensor(b) && SLOT(b, C.t[T_STORAGE]) == SLOT(a, C.t[T_STORAGE])) return MISS;   /* overlap rules */
    PyObject *base = SLOT(a, C.t[T_BASE]);
    if (base != Py_None) {   /* a view of a base autograd tracks: Python moves the base's version counter */
        PyObject *bm = ag_of(base);
        int tracked = bm != Py_None;
        Py_DECREF(bm);
        if (tracked) return MISS;
    }
    /* a tensor the tape tracks gets its version bumped (or an error) by the Autograd entry: not here */
    if ((ks & C.autograd_bit) || !key_check(ks, &bbit, &grad) || grad) return MISS;
    PyObject *args[2] = {a, b};
    PyObject *plan = usable_plan(f, SLOT(a, C.t[T_DTYPE]), bbit, aux, args, 2, 0);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *r = call_binary(plan, a, b, 1);
    if (r == NULL) return NULL;
    Py_DECREF(r);
    return Py_NewRef(a);
}

static int small_int(PyObject *v, long long *out) {
    if (!PyLong_CheckExact(v)) return 0;
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    return !overflow;
}

/* The view operators' common guard: a tensor of one backend, plain or under grad mode. */
static PyObject *view_plan(FastOp *f, PyObject *x, PyObject *const *args, Py_ssize_t nargs, long aux, int *grad) {
    long long kx, bbit;
    if (!is_tensor(x) || !keys_of(x, &kx) || !PyTuple_CheckExact(SLOT(x, C.t[T_SHAPE])) ||
        !PyTuple_CheckExact(SLOT(x, C.t[T_STRIDES])) || !key_check(kx, &bbit, grad))
        return MISS;
    return usable_plan(f, SLOT(x, C.t[T_DTYPE]), bbit, aux, args, nargs, *grad);
}

static PyObject *transpose(FastOp *f, PyObject *const *args) {
    PyObject *x = args[0];
    long long d0, d1;
    int grad;
    if (!small_int(args[1], &d0) || !small_int(args[2], &d1)) return MISS;
    PyObject *plan = view_plan(f, x, args, 3, 0, &grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *shape = SLOT(x, C.t[T_SHAPE]), *strides = SLOT(x, C.t[T_STRIDES]);
    Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (d0 < 0) d0 += nd;
    if (d1 < 0) d1 += nd;
    if (nd == 0 || d0 < 0 || d0 >= nd || d1 < 0 || d1 >= nd) return MISS;   /* Python says why */
    PyObject *ns = PyTuple_New(nd), *nst = PyTuple_New(nd), *out = NULL;
    if (ns && nst) {
        for (Py_ssize_t k = 0; k < nd; k++) {
            Py_ssize_t from = k == d0 ? d1 : k == d1 ? d0 : k;
            PyTuple_SET_ITEM(ns, k, Py_NewRef(PyTuple_GET_ITEM(shape, from)));
            PyTuple_SET_ITEM(nst, k, Py_NewRef(PyTuple_GET_ITEM(strides, from)));
        }
        out = new_view(x, ns, nst, SLOT(x, C.t[T_OFFSET]));
    }
    Py_XDECREF(ns);
    Py_XDECREF(nst);
    PyObject *rargs[3] = {x, args[1], args[2]};
    return finish(plan, grad, out, rargs, 3, 1);
}

/* select(x, dim, index); x[index] is select(x, 0, index). */
static PyObject *select_view(FastOp *f, PyObject *x, PyObject *dim_obj, PyObject *index_obj) {
    long long dim, index;
    int grad;
    if (!small_int(dim_obj, &dim) || !small_int(index_obj, &index)) return MISS;
    PyObject *pargs[3] = {x, dim_obj, index_obj};
    PyObject *plan = view_plan(f, x, pargs, 3, 0, &grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *shape = SLOT(x, C.t[T_SHAPE]), *strides = SLOT(x, C.t[T_STRIDES]);
    Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (dim < 0) dim += nd;
    if (nd == 0 || dim < 0 || dim >= nd) return MISS;
    long long n = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, dim));
    long long stride = PyLong_AsLongLong(PyTuple_GET_ITEM(strides, dim));
    long long off = PyLong_AsLongLong(SLOT(x, C.t[T_OFFSET]));
    if (PyErr_Occurred()) { PyErr_Clear(); return MISS; }
    if (index < -n || index >= n) return MISS;   /* Python names the bound */
    if (index < 0) index += n;
    PyObject *ns = PyTuple_New(nd - 1), *nst = PyTuple_New(nd - 1), *offset = PyLong_FromLongLong(off + index * stride);
    PyObject *out = NULL;
    if (ns && nst && offset) {
        for (Py_ssize_t k = 0, j = 0; k < nd; k++) {
            if (k == dim) continue;
            PyTuple_SET_ITEM(ns, j, Py_NewRef(PyTuple_GET_ITEM(shape, k)));
            PyTuple_SET_ITEM(nst, j, Py_NewRef(PyTuple_GET_ITEM(strides, k)));
            j++;
        }
        out = new_view(x, ns, nst, offset);
    }
    Py_XDECREF(ns);
    Py_XDECREF(nst);
    Py_XDECREF(offset);
    return finish(plan, grad, out, pargs, 3, 1);
}

/* The Autograd key's entry for an operator with a formula (autograd/kernels.py _formula_entry): the
 * operator computed below the Autograd key, then its node recorded. Forward mode, tensor subclasses and
 * more than MAXT tensor arguments go to the Python entry. */
static PyObject *autograd_entry(FastOp *f, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *fn = PyTuple_GET_ITEM(f->extra, 0), *gp = PyTuple_GET_ITEM(f->extra, 1);
    PyObject *tp = PyTuple_GET_ITEM(f->extra, 2);
    int ntens = (int)PyTuple_GET_SIZE(tp), tpos[MAXT], need = 0;
    PyObject *edges[MAXT] = {NULL};
    if (ntens > MAXT) return MISS;
    if (!no_dual_level()) return MISS;
    for (int k = 0; k < ntens; k++) {
        tpos[k] = (int)PyLong_AsLong(PyTuple_GET_ITEM(tp, k));
        if (tpos[k] < 0 || tpos[k] >= nargs) return MISS;
        PyObject *x = args[tpos[k]];
        if (PyObject_TypeCheck(x, C.tensor) && !is_tensor(x)) return MISS;
    }
    for (int k = 0; k < ntens; k++) {
        PyObject *x = args[tpos[k]];
        if (!is_tensor(x)) continue;
        PyObject *m = ag_of(x);
        int rc = edge_of(x, m, &edges[k]);
        Py_DECREF(m);
        if (rc < 0) goto fail;
        need |= edges[k] != NULL;
    }
    long long prev_allowed = tl_allowed, prev_inplace = tl_inplace;
    tl_allowed = prev_allowed & ~C.autograd_bit;   /* below this key */
    tl_inplace = 0;
    PyObject *out = PyObject_Vectorcall(fn, args, nargs, NULL);
    tl_allowed = prev_allowed;
    tl_inplace = prev_inplace;
    if (out == NULL) goto fail;
    if (!need) {
        /* _clean: an output computed below may be a view that copied an input's Autograd bit */
        long long k;
        if (Py_TYPE(out) == C.tensor && keys_of(out, &k) && (k & C.autograd_bit)) {
            PyObject *m = ag_of(out);
            if (m == Py_None) {
                PyObject *nk = PyLong_FromLongLong(k & ~C.autograd_bit);
                if (nk == NULL) { Py_DECREF(m); Py_DECREF(out); goto fail; }
                put_new(out, C.t[T_KEYS], nk);
            }
            Py_DECREF(m);
        }
    } else if (nargs == 0 || out != args[0]) {   /* the input itself (contiguous()): nothing to record */
        out = record(gp, args, (int)nargs, tpos, ntens, edges, out);
    }
    for (int k = 0; k < ntens; k++) Py_XDECREF(edges[k]);
    return out;
fail:
    for (int k = 0; k < ntens; k++) Py_XDECREF(edges[k]);
    return NULL;
}

/* F.linear(input, weight, bias) on matrices: addmm(bias, input, weight.t()), as nn.functional.linear
 * computes it. The plan holds the array kernels (mm, add_, t) and, for grad mode,
 * the records of t and of addmm as (t's grad plan, addmm's grad plan). */
static PyObject *linear(FastOp *f, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) return MISS;
    PyObject *x = args[0], *w = args[1], *b = args[2];
    long long kx, kw, kb, bbit;
    int grad;
    if (!is_tensor(x) || !is_tensor(w) || !is_tensor(b) || !keys_of(x, &kx) || !keys_of(w, &kw) ||
        !keys_of(b, &kb))
        return MISS;
    PyObject *dtype = SLOT(x, C.t[T_DTYPE]);
    PyObject *sx = SLOT(x, C.t[T_SHAPE]), *sw = SLOT(w, C.t[T_SHAPE]), *sb = SLOT(b, C.t[T_SHAPE]);
    PyObject *stw = SLOT(w, C.t[T_STRIDES]);
    if (SLOT(w, C.t[T_DTYPE]) != dtype || SLOT(b, C.t[T_DTYPE]) != dtype || !PyTuple_CheckExact(sx) ||
        !PyTuple_CheckExact(sw) || !PyTuple_CheckExact(sb) || !PyTuple_CheckExact(stw) ||
        PyTuple_GET_SIZE(sx) != 2 || PyTuple_GET_SIZE(sw) != 2 || PyTuple_GET_SIZE(sb) != 1 ||
        !is_contiguous(sb, SLOT(b, C.t[T_STRIDES])))
        return MISS;
    long long n = PyLong_AsLongLong(PyTuple_GET_ITEM(sx, 0)), in = PyLong_AsLongLong(PyTuple_GET_ITEM(sx, 1));
    long long o = PyLong_AsLongLong(PyTuple_GET_ITEM(sw, 0)), in2 = PyLong_AsLongLong(PyTuple_GET_ITEM(sw, 1));
    long long nb = PyLong_AsLongLong(PyTuple_GET_ITEM(sb, 0));
    if (PyErr_Occurred()) { PyErr_Clear(); return MISS; }
    if (in != in2 || nb != o || !key_check(kx | kw | kb, &bbit, &grad)) return MISS;
    PyObject *plan = usable_plan(f, dtype, bbit, 0, args, 3, grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *kernels = PyTuple_GET_ITEM(plan, 0), *gps = PyTuple_GET_ITEM(plan, 5);
    /* weight.t(): a view (with its own TBackward0 record under grad mode) */
    PyObject *ts = PyTuple_Pack(2, PyTuple_GET_ITEM(sw, 1), PyTuple_GET_ITEM(sw, 0));
    PyObject *tst = PyTuple_Pack(2, PyTuple_GET_ITEM(stw, 1), PyTuple_GET_ITEM(stw, 0));
    PyObject *wt = (ts && tst) ? new_view(w, ts, tst, SLOT(w, C.t[T_OFFSET])) : NULL;
    Py_XDECREF(ts);
    Py_XDECREF(tst);
    PyObject *targs[1] = {w};
    if (grad) wt = finish_gp(PyTuple_GET_ITEM(gps, 0), grad, wt, targs, 1, 1);
    if (wt == NULL) return NULL;
    PyObject *hx = array_of(x, plan), *hw0 = hx ? array_of(w, plan) : NULL, *hb = hw0 ? array_of(b, plan) : NULL;
    PyObject *hw = hb ? PyObject_CallOneArg(PyTuple_GET_ITEM(kernels, 2), hw0) : NULL;   /* t's array kernel */
    Py_XDECREF(hw0);
    PyObject *r = NULL;
    if (hw != NULL) {
        r = as_array(PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(kernels, 0), hx, hw, NULL));
        if (r != NULL) {   /* mm(input, weight.t()) + bias: a new product, then the bias added into it */
            PyObject *s2 = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(kernels, 1), r, hb, r, NULL);
            if (s2 == NULL) Py_CLEAR(r);
            Py_XDECREF(s2);
        }
    }
    Py_XDECREF(hx);
    Py_XDECREF(hw);
    Py_XDECREF(hb);
    if (r == NULL) { Py_DECREF(wt); return NULL; }
    PyObject *shape = r ? Py_BuildValue("(LL)", n, o) : NULL, *strides = shape ? contiguous_strides2(n, o) : NULL;
    PyObject *out = strides ? new_tensor(Py_NewRef(r), shape, strides, plan) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(shape);
    Py_XDECREF(strides);
    if (out != NULL && grad) {
        static PyObject *one = NULL;
        if (one == NULL) one = PyLong_FromLong(1);
        PyObject *margs[5] = {b, x, wt, one, one};   /* addmm(self, mat1, mat2, beta=1, alpha=1) */
        out = finish_gp(PyTuple_GET_ITEM(gps, 1), grad, out, margs, 5, 3);
    }
    Py_DECREF(wt);
    return out;
}

/* x.view(*shape) / x.reshape(*shape) of a contiguous tensor (Tensor's shape methods): the size as
 * as_shape gives it (ints, or one tuple or list of ints), -1 inferred, the view contiguous. */
static PyObject *view_shape(FastOp *f, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2) return MISS;
    PyObject *x = args[0];
    if (!is_tensor(x) || !is_contiguous(SLOT(x, C.t[T_SHAPE]), SLOT(x, C.t[T_STRIDES]))) return MISS;
    PyObject *const *items = args + 1;
    Py_ssize_t n = nargs - 1;
    if (n == 1 && (PyTuple_CheckExact(args[1]) || PyList_CheckExact(args[1]))) {
        items = PySequence_Fast_ITEMS(args[1]);
        n = PySequence_Fast_GET_SIZE(args[1]);
    }
    if (n > 64) return MISS;
    long long dims[64], known = 1, numel = 1;
    int infer = -1;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (!small_int(items[k], &dims[k])) return MISS;
        if (dims[k] == -1 && infer < 0) infer = (int)k;
        else if (dims[k] < 0) return MISS;   /* Python names the bad size */
        else known *= dims[k];
    }
    PyObject *shape_in = SLOT(x, C.t[T_SHAPE]);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(shape_in); k++) numel *= PyLong_AsLongLong(PyTuple_GET_ITEM(shape_in, k));
    if (PyErr_Occurred()) { PyErr_Clear(); return MISS; }
    if (infer >= 0) {
        if (known == 0 || numel % known) return MISS;
        dims[infer] = numel / known;
    } else if (known != numel) {
        return MISS;
    }
    int grad;
    PyObject *plan = view_plan(f, x, args, nargs, 0, &grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *size = PyTuple_New(n), *shape = PyTuple_New(n), *strides = NULL, *out = NULL;
    if (size && shape) {
        for (Py_ssize_t k = 0; k < n; k++) {
            PyTuple_SET_ITEM(size, k, Py_NewRef(items[k]));
            PyObject *d = k == infer ? PyLong_FromLongLong(dims[k]) : Py_NewRef(items[k]);
            if (d == NULL) { Py_CLEAR(shape); break; }
            PyTuple_SET_ITEM(shape, k, d);
        }
        strides = shape ? contiguous_strides(shape) : NULL;
        if (strides) out = new_view(x, shape, strides, SLOT(x, C.t[T_OFFSET]));
    }
    Py_XDECREF(shape);
    Py_XDECREF(strides);
    if (size == NULL) { Py_XDECREF(out); return NULL; }
    PyObject *rargs[2] = {x, size};
    out = finish(plan, grad, out, rargs, 2, 1);
    Py_DECREF(size);
    return out;
}

/* x.t(): a matrix's transpose (a vector or a 0-d tensor: itself, as a view). */
static PyObject *t_view(FastOp *f, PyObject *x) {
    int grad;
    PyObject *args[1] = {x};
    if (!is_tensor(x) || !PyTuple_CheckExact(SLOT(x, C.t[T_SHAPE])) || PyTuple_GET_SIZE(SLOT(x, C.t[T_SHAPE])) > 2)
        return MISS;
    PyObject *plan = view_plan(f, x, args, 1, 0, &grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *shape = SLOT(x, C.t[T_SHAPE]), *strides = SLOT(x, C.t[T_STRIDES]), *out;
    if (PyTuple_GET_SIZE(shape) < 2) {
        out = new_view(x, shape, strides, SLOT(x, C.t[T_OFFSET]));
    } else {
        PyObject *ns = PyTuple_Pack(2, PyTuple_GET_ITEM(shape, 1), PyTuple_GET_ITEM(shape, 0));
        PyObject *nst = PyTuple_Pack(2, PyTuple_GET_ITEM(strides, 1), PyTuple_GET_ITEM(strides, 0));
        out = (ns && nst) ? new_view(x, ns, nst, SLOT(x, C.t[T_OFFSET])) : NULL;
        Py_XDECREF(ns);
        Py_XDECREF(nst);
    }
    return finish(plan, grad, out, args, 1, 1);
}

/* op(x, dim[, keepdim]) reducing one int dim of a contiguous tensor: kernel(array, (dim,), keepdim). sum and
 * mean return the array, recorded with the schema's arguments (x, dim, keepdim, dtype=None); max returns
 * (values, indices) arrays, its plan's kernel being (kernel, result type, the indices' plan), the values
 * recorded as amax(x, dim, keepdim). Planned per (dtype, 1000 + 2 ndim + keepdim), beside the full
 * reductions' cases (their ndim). */
static PyObject *reduce_dim(FastOp *f, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 3) return MISS;
    PyObject *x = args[0], *keep = nargs == 3 ? args[2] : Py_False;
    long long kx, bbit, dim;
    int grad;
    if (!is_tensor(x) || !keys_of(x, &kx) || !small_int(args[1], &dim) || (keep != Py_True && keep != Py_False))
        return MISS;
    PyObject *shape = SLOT(x, C.t[T_SHAPE]);
    if (!is_contiguous(shape, SLOT(x, C.t[T_STRIDES])) || !key_check(kx, &bbit, &grad)) return MISS;
    Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (dim < 0) dim += nd;
    if (nd == 0 || dim < 0 || dim >= nd) return MISS;
    PyObject *pargs[4] = {x, args[1], keep, Py_None};
    long aux = 1000 + (long)(nd * 2 + (keep == Py_True));
    PyObject *plan = usable_plan(f, SLOT(x, C.t[T_DTYPE]), bbit, aux, pargs, 3, grad);
    if (plan == NULL || plan == MISS) return plan;
    PyObject *kernel = PyTuple_GET_ITEM(plan, 0), *index_plan = NULL, *result_type = NULL;
    if (PyTuple_CheckExact(kernel)) {   /* max: (kernel, result type, indices' plan) */
        for (Py_ssize_t k = 0; k < nd; k++)   /* empty: Python decides (the max of nothing is an error) */
            if (PyTuple_GET_ITEM(shape, k) == C.zero) return MISS;
        result_type = PyTuple_GET_ITEM(kernel, 1);
        index_plan = PyTuple_GET_ITEM(kernel, 2);
        kernel = PyTuple_GET_ITEM(kernel, 0);
    }
    PyObject *hx = array_of(x, plan), *dims = Py_BuildValue("(L)", dim), *r = NULL, *ri = NULL;
    if (hx && dims) {
        PyObject *argv[3] = {hx, dims, keep};
        r = PyObject_Vectorcall(kernel, argv, 3, NULL);
    }
    Py_XDECREF(hx);
    Py_XDECREF(dims);
    if (r != NULL && index_plan != NULL) {   /* (values, indices) */
        if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != 2) {
            Py_DECREF(r);
            PyErr_SetString(PyExc_TypeError, "a max_dim array kernel must return (values, indices)");
            return NULL;
        }
        ri = as_array(Py_NewRef(PyTuple_GET_ITEM(r, 1)));
        Py_SETREF(r, Py_NewRef(PyTuple_GET_ITEM(r, 0)));
        if (ri == NULL) Py_CLEAR(r);
    }
    r = as_array(r);
    if (r == NULL) {
        Py_XDECREF(ri);
        return NULL;
    }
    PyObject *ns = PyTuple_New(keep == Py_True ? nd : nd - 1), *out = NULL, *nst = NULL;
    if (ns != NULL) {
        for (Py_ssize_t k = 0, j = 0; k < nd; k++) {
            if (k == dim && keep != Py_True) continue;
            PyTuple_SET_ITEM(ns, j++, Py_NewRef(k == dim ? C.one : PyTuple_GET_ITEM(shape, k)));
        }
        if (buffer_c_contiguous(r) && (ri == NULL || buffer_c_contiguous(ri))) nst = contiguous_strides(ns);
    }
    if (nst == NULL) {
        Py_DECREF(r);
        Py_XDECREF(ri);
        Py_XDECREF(ns);
        return PyErr_Occurred() ? NULL : MISS;
    }
    out = new_tensor(r, ns, nst, plan);
    PyObject *indices = ri != NULL ? new_tensor(ri, ns, nst, index_plan) : NULL;
    Py_DECREF(ns);
    Py_DECREF(nst);
    if (index_plan == NULL) return finish(plan, grad, out, pargs, 4, 1);
    PyObject *outs[2] = {out, indices}, *pair = NULL;
    if (out != NULL && indices != NULL && finish_outs(PyTuple_GET_ITEM(plan, 5), grad, outs, 2, pargs, 3, 1) == 0)
        pair = PyObject_CallFunctionObjArgs(result_type, out, indices, NULL);
    Py_XDECREF(out);
    Py_XDECREF(indices);
    return pair;
}

/* slice(x, dim, start, end, step) (views.py _slice): Python's slice rules for start and end, step > 0. */
static PyObject *slice_view(FastOp *f, PyObject *x, PyObject *dim_obj, PyObject *start, PyObject *stop,
                            PyObject *step_obj) {
    long long dim, step, tmp;
    int grad;
    if (!small_int(dim_obj, &dim) || !small_int(step_obj, &step) || step <= 0 ||
        (start != Py_None && !small_int(start, &tmp)) || (stop != Py_None && !small_int(stop, &tmp)))
        return MISS;
    PyObject *pargs[5] = {x, dim_obj, start, stop, step_obj};
    PyObject *plan = view_plan(f, x, pargs, 5, 1, &grad);   /* case 1: x[key]'s FastOp plans select as 0 */
    if (plan == NULL || plan == MISS) return plan;
    PyObject *shape = SLOT(x, C.t[T_SHAPE]), *strides = SLOT(x, C.t[T_STRIDES]);
    Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (dim < 0) dim += nd;
    if (nd == 0 || dim < 0 || dim >= nd) return MISS;
    long long n = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, dim));
    long long stride = PyLong_AsLongLong(PyTuple_GET_ITEM(strides, dim));
    long long off = PyLong_AsLongLong(SLOT(x, C.t[T_OFFSET]));
    if (PyErr_Occurred()) { PyErr_Clear(); return MISS; }
    PyObject *sl = PySlice_New(start, stop, step_obj);
    Py_ssize_t b, e, st;
    if (sl == NULL || PySlice_Unpack(sl, &b, &e, &st) < 0) { Py_XDECREF(sl); PyErr_Clear(); return MISS; }
    Py_DECREF(sl);
    Py_ssize_t length = PySlice_AdjustIndices((Py_ssize_t)n, &b, &e, st);
    PyObject *ns = PyTuple_New(nd), *nst = PyTuple_New(nd);
    PyObject *offset = PyLong_FromLongLong(off + (length ? (long long)b * stride : 0)), *out = NULL;
    if (ns && nst && offset) {
        int ok = 1;
        for (Py_ssize_t k = 0; k < nd; k++) {
            PyObject *d = k == dim ? PyLong_FromSsize_t(length) : Py_NewRef(PyTuple_GET_ITEM(shape, k));
            PyObject *s2 = k == dim ? PyLong_FromLongLong(stride * step) : Py_NewRef(PyTuple_GET_ITEM(strides, k));
            if (d == NULL || s2 == NULL) { Py_XDECREF(d); Py_XDECREF(s2); ok = 0; break; }
            PyTuple_SET_ITEM(ns, k, d);
            PyTuple_SET_ITEM(nst, k, s2);
        }
        if (ok) out = new_view(x, ns, nst, offset);
    }
    Py_XDECREF(ns);
    Py_XDECREF(nst);
    Py_XDECREF(offset);
    return finish(plan, grad, out, pargs, 5, 1);
}

/* x[key] for the basic keys that are one view (_indexing.getitem): an int (select on dim 0), a slice (slice
 * on dim 0), or a tuple of full slices around one int or slice (select or slice on that dim). */
static PyObject *getitem(FastOp *f, PyObject *x, PyObject *key) {
    if (!is_tensor(x) || !PyTuple_CheckExact(SLOT(x, C.t[T_SHAPE]))) return MISS;
    Py_ssize_t nd = PyTuple_GET_SIZE(SLOT(x, C.t[T_SHAPE]));
    if (nd == 0) return MISS;
    PyObject *item = key, *dim = C.zero, *dim_new = NULL, *r;
    if (PyTuple_CheckExact(key)) {
        Py_ssize_t n = PyTuple_GET_SIZE(key), at = -1;
        if (n == 0 || n > nd) return MISS;
        for (Py_ssize_t k = 0; k < n; k++) {
            PyObject *it = PyTuple_GET_ITEM(key, k);
            int full = PySlice_Check(it) && ((PySliceObject *)it)->start == Py_None &&
                       ((PySliceObject *)it)->stop == Py_None && ((PySliceObject *)it)->step == Py_None;
            if (full) continue;
            if (at >= 0) return MISS;   /* two entries that index: _apply_basic chains them */
            at = k;
        }
        if (at < 0) return MISS;
        item = PyTuple_GET_ITEM(key, at);
        if ((dim_new = PyLong_FromSsize_t(at)) == NULL) return NULL;
        dim = dim_new;
    }
    if (PyLong_CheckExact(item)) {
        r = select_view(f, x, dim, item);
    } else if (PySlice_Check(item)) {
        PySliceObject *sl = (PySliceObject *)item;
        PyObject *step = sl->step == Py_None ? C.one : sl->step;
        r = slice_view(f, x, dim, sl->start, sl->stop, step);
    } else {
        r = MISS;
    }
    Py_XDECREF(dim_new);
    return r;
}

static PyObject *fast_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    FastOp *f = (FastOp *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && C.ready) {
        PyObject *r = MISS;
        g_calls++;
        switch (f->kind) {
        case K_AUTOGRAD: r = autograd_entry(f, args, nargs); break;
        case K_UNARY: if (nargs == 1) r = unary(f, args[0]); break;
        case K_LINEAR: r = linear(f, args, nargs); break;
        case K_VIEWSHAPE: r = view_shape(f, args, nargs); break;
        case K_T: if (nargs == 1) r = t_view(f, args[0]); break;
        case K_BINARY: if (nargs == 2) r = binary(f, args[0], args[1]); break;
        case K_REDUCE_ALL: r = nargs == 1 ? reduce_all(f, args[0]) : reduce_dim(f, args, nargs); break;
        case K_MATMUL: if (nargs == 2) r = matmul(f, args[0], args[1]); break;
        case K_INPLACE: if (nargs == 2) r = inplace(f, args[0], args[1]); break;
        case K_TRANSPOSE: if (nargs == 3) r = transpose(f, args); break;
        case K_SELECT: if (nargs == 3) r = select_view(f, args[0], args[1], args[2]); break;
        case K_GETITEM: if (nargs == 2) r = getitem(f, args[0], args[1]); break;
        }
        if (--g_calls == 0 && g_retired != NULL) Py_CLEAR(g_retired);
        if (r != MISS) return r;
    }
    return PyObject_Vectorcall(f->fallback, args, nargsf, kwnames);
}

static PyObject *fast_new(PyTypeObject *tp, PyObject *args, PyObject *kw) {
    PyObject *fallback, *planner, *extra = NULL;
    int kind;
    if (!PyArg_ParseTuple(args, "OOi|O!", &fallback, &planner, &kind, &PyTuple_Type, &extra)) return NULL;
    if (kind == K_AUTOGRAD && (extra == NULL || PyTuple_GET_SIZE(extra) != 3)) {
        PyErr_SetString(PyExc_TypeError, "an Autograd entry needs (function, grad plan, tensor positions)");
        return NULL;
    }
    if (kind < K_BINARY || kind > K_T) {
        PyErr_Format(PyExc_ValueError, "unknown fast-path kind %d", kind);
        return NULL;
    }
    FastOp *f = (FastOp *)tp->tp_alloc(tp, 0);
    if (f == NULL) return NULL;
    f->vectorcall = fast_vectorcall;
    f->fallback = Py_NewRef(fallback);
    f->planner = Py_NewRef(planner);
    f->kind = kind;
    f->extra = Py_XNewRef(extra);
    return (PyObject *)f;
}

static int fast_traverse(FastOp *f, visitproc visit, void *arg) {
    Py_VISIT(f->fallback);
    Py_VISIT(f->planner);
    Py_VISIT(f->dict);
    Py_VISIT(f->extra);
    for (int k = 0; k < f->n; k++) Py_VISIT(f->cache[k].plan);
    return 0;
}

static int fast_clear(FastOp *f) {
    Py_CLEAR(f->fallback);
    Py_CLEAR(f->planner);
    Py_CLEAR(f->dict);
    Py_CLEAR(f->extra);
    for (int k = 0; k < f->n; k++) Py_CLEAR(f->cache[k].plan);
    f->n = 0;
    return 0;
}

static void fast_dealloc(FastOp *f) {
    PyObject_GC_UnTrack(f);
    fast_clear(f);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

/* Bound as a method, like a function: Tensor.__add__ = ember.add works. */
static PyObject *fast_descr_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

/* Attributes it does not have itself (__name__, __doc__, __wrapped__, op, ...) are the wrapped function's. */
static PyObject *fast_getattro(PyObject *self, PyObject *name) {
    PyObject *r = PyObject_GenericGetAttr(self, name);
    if (r != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) return r;
    PyErr_Clear();
    return PyObject_GetAttr(((FastOp *)self)->fallback, name);
}

static PyObject *fast_repr(FastOp *f) {
    return PyObject_Repr(f->fallback);
}

static PyObject *fast_get_doc(FastOp *f, void *c) {
    return PyObject_GetAttrString(f->fallback, "__doc__");
}

static PyObject *fast_get_fallback(FastOp *f, void *c) { return Py_NewRef(f->fallback); }

/* The current plans, as [(dtype, aux, planned)]: whether calls of that case take the native path. */
static PyObject *fast_plans(FastOp *f, PyObject *unused) {
    PyObject *out = PyList_New(0);
    for (int k = 0; out && k < f->n; k++) {
        Entry *e = &f->cache[k];
        if (e->epoch != g_epoch) continue;
        PyObject *item = Py_BuildValue("(OlO)", e->dtype, e->aux, e->plan != Py_None ? Py_True : Py_False);
        if (item == NULL || PyList_Append(out, item) < 0) { Py_XDECREF(item); Py_CLEAR(out); break; }
        Py_DECREF(item);
    }
    return out;
}

static PyMethodDef fast_methods[] = {
    {"plans", (PyCFunction)fast_plans, METH_NOARGS, "The cached plans: [(dtype, case, planned)]."},
    {NULL},
};

static PyGetSetDef fast_getset[] = {
    {"__doc__", (getter)fast_get_doc, NULL, NULL, NULL},
    {"__wrapped__", (getter)fast_get_fallback, NULL, "the function this fast path shortens", NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL},
};

static PyTypeObject FastOpType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ember.dispatch._fast.FastOp",
    .tp_basicsize = sizeof(FastOp),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "FastOp(fallback, planner, kind): an operator function with a native fast path.",
    .tp_new = fast_new,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(FastOp, vectorcall),
    .tp_dictoffset = offsetof(FastOp, dict),
    .tp_traverse = (traverseproc)fast_traverse,
    .tp_clear = (inquiry)fast_clear,
    .tp_dealloc = (destructor)fast_dealloc,
    .tp_descr_get = fast_descr_get,
    .tp_getattro = fast_getattro,
    .tp_repr = (reprfunc)fast_repr,
    .tp_getset = fast_getset,
    .tp_methods = fast_methods,
};

static PyMethodDef module_methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "Give the fast path Ember's classes (it reads their slots by offset)."},
    {"invalidate", invalidate, METH_NOARGS, "Drop every cached plan (an operator or kernel was registered)."},
    {NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "ember.dispatch._fast", "The dispatcher's native fast path.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fast(void) {
    if (PyType_Ready(&StateType) < 0 || PyType_Ready(&FastOpType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    PyModule_AddIntConstant(m, "BINARY", K_BINARY);
    PyModule_AddIntConstant(m, "REDUCE_ALL", K_REDUCE_ALL);
    PyModule_AddIntConstant(m, "MATMUL", K_MATMUL);
    PyModule_AddIntConstant(m, "INPLACE", K_INPLACE);
    PyModule_AddIntConstant(m, "TRANSPOSE", K_TRANSPOSE);
    PyModule_AddIntConstant(m, "SELECT", K_SELECT);
    PyModule_AddIntConstant(m, "GETITEM", K_GETITEM);
    PyModule_AddIntConstant(m, "AUTOGRAD", K_AUTOGRAD);
    PyModule_AddIntConstant(m, "UNARY", K_UNARY);
    PyModule_AddIntConstant(m, "LINEAR", K_LINEAR);
    PyModule_AddIntConstant(m, "VIEWSHAPE", K_VIEWSHAPE);
    PyModule_AddIntConstant(m, "T", K_T);
    Py_INCREF(&StateType);
    PyModule_AddObject(m, "State", (PyObject *)&StateType);
    Py_INCREF(&FastOpType);
    PyModule_AddObject(m, "FastOp", (PyObject *)&FastOpType);
    return m;
}
