// Native cpu kernels for what numpy lacks or does slowly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace py = pybind11;

void register_windows(py::module_& m);     // windows.cpp: im2col and col2im for the convolutions
void register_conv(py::module_& m);        // conv.cpp: conv2d forward and backward for small channel counts
void register_norm_pool(py::module_& m);   // norm_pool.cpp: batch norm, max pooling, the Adam update
void register_activation(py::module_& m);  // activation.cpp: relu's and threshold's gradient
void register_reduce(py::module_& m);      // reduce.cpp: sum, mean, max and min of small arrays
void register_elementwise(py::module_& m); // elementwise.cpp: add, sub, mul, true_divide and relu of small arrays
void register_loss(py::module_& m);        // loss.cpp: cross-entropy forward and backward

using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

template <typename F>
static py::array_t<double> map_f64(F64Array x, F f) {
    auto in = x.unchecked();
    py::array_t<double> out(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    double* o = out.mutable_data();
    const double* p = x.data();
    const py::ssize_t n = x.size();
    {
        py::gil_scoped_release release;
        for (py::ssize_t i = 0; i < n; ++i) o[i] = f(p[i]);
    }
    (void)in;
    return out;
}

// Inverse error function: Giles' single-precision-free approximation refined by
// two Newton steps on erf, accurate to double rounding across (-1, 1).
static double erfinv(double y) {
    if (std::isnan(y) || y < -1.0 || y > 1.0) return std::numeric_limits<double>::quiet_NaN();
    if (y == 1.0) return std::numeric_limits<double>::infinity();
    if (y == -1.0) return -std::numeric_limits<double>::infinity();
    double w = -std::log((1.0 - y) * (1.0 + y));
    double x;
    if (w < 6.25) {
        w -= 3.125;
        x = -3.6444120640178196996e-21;
        x = -1.685059138182016589e-19 + x * w;
        x = 1.2858480715256400167e-18 + x * w;
        x = 1.115787767802518096e-17 + x * w;
        x = -1.333171662854620906e-16 + x * w;
        x = 2.0972767875968561637e-17 + x * w;
        x = 6.6376381343583238325e-15 + x * w;
        x = -4.0545662729752068639e-14 + x * w;
        x = -8.1519341976054721522e-14 + x * w;
        x = 2.6335093153082322977e-12 + x * w;
        x = -1.2975133253453532498e-11 + x * w;
        x = -5.4154120542946279317e-11 + x * w;
        x = 1.051212273321532285e-09 + x * w;
        x = -4.1126339803469836976e-09 + x * w;
        x = -2.9070369957882005086e-08 + x * w;
        x = 4.2347877827932403518e-07 + x * w;
        x = -1.3654692000834678645e-06 + x * w;
        x = -1.3882523362786468719e-05 + x * w;
        x = 0.0001867342080340571352 + x * w;
        x = -0.00074070253416626697512 + x * w;
        x = -0.0060336708714301490533 + x * w;
        x = 0.24015818242558961693 + x * w;
        x = 1.6536545626831027356 + x * w;
    } else if (w < 16.0) {
        w = std::sqrt(w) - 3.25;
        x = 2.2137376921775787049e-09;
        x = 9.0756561938885390979e-08 + x * w;
        x = -2.7517406297064545428e-07 + x * w;
        x = 1.8239629214389227755e-08 + x * w;
        x = 1.5027403968909827627e-06 + x * w;
        x = -4.013867526981545969e-06 + x * w;
        x = 2.9234449089955446044e-06 + x * w;
        x = 1.2475304481671778723e-05 + x * w;
        x = -4.7318229009055733981e-05 + x * w;
        x = 6.8284851459573175448e-05 + x * w;
        x = 2.4031110387097893999e-05 + x * w;
        x = -0.0003550375203628474796 + x * w;
        x = 0.00095328937973738049703 + x * w;
        x = -0.0016882755560235047313 + x * w;
        x = 0.0024914420961078508066 + x * w;
        x = -0.0037512085075692412107 + x * w;
        x = 0.005370914553590063617 + x * w;
        x = 1.0052589676941592334 + x * w;
        x = 3.0838856104922207635 + x * w;
    } else {
        w = std::sqrt(w) - 5.0;
        x = -2.7109920616438573243e-11;
        x = -2.5556418169965252055e-10 + x * w;
        x = 1.5076572693500548083e-09 + x * w;
        x = -3.7894654401267369937e-09 + x * w;
        x = 7.6157012080783393804e-09 + x * w;
        x = -1.4960026627149240478e-08 + x * w;
        x = 2.9147953450901080826e-08 + x * w;
        x = -6.7711997758452339498e-08 + x * w;
        x = 2.2900482228026654717e-07 + x * w;
        x = -9.9298272942317002539e-07 + x * w;
        x = 4.5260625972231537039e-06 + x * w;
        x = -1.9681778105531670567e-05 + x * w;
        x = 7.5995277030017761139e-05 + x * w;
        x = -0.00021503011930044477347 + x * w;
        x = -0.00013871931833623122026 + x * w;
        x = 1.0103004648645343977 + x * w;
        x = 4.8499064014085844221 + x * w;
    }
    x *= y;
    const double two_over_sqrt_pi = 1.1283791670955126;
    for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (two_over_sqrt_pi * std::exp(-x * x));
    return x;
}

// ---------------------------------------------------------------------------
// Indexed copies and accumulation along one dim: gather, scatter, scatter_add,
// index_add. Every operand is a numpy array with its own byte strides (views
// of Ember tensors, stride 0 where expanded), so no operand is copied first.
// Indices are checked before anything is written: a bad index raises
// IndexError and leaves the destination untouched; the inner loop checks
// again, so that an index changed behind our back cannot write out of bounds.

using ssize = py::ssize_t;

static inline float f32_from_bits(uint32_t w) { float f; std::memcpy(&f, &w, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t w; std::memcpy(&w, &f, 4); return w; }

// IEEE half <-> float, bit-exact with round-to-nearest-even (after Maratyszcza's FP16).
static inline float half_to_float(uint16_t h) {
    const uint32_t w = static_cast<uint32_t>(h) << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float normalized = f32_from_bits((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    const float denormalized = f32_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t bits = two_w < (1u << 27) ? f32_to_bits(denormalized) : f32_to_bits(normalized);
    return f32_from_bits(sign | bits);
}

static inline uint16_t float_to_half(float f) {
    float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = f32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = f32_to_bits(base);
    const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
    return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float bf16_to_float(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

static inline uint16_t float_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

// dst += src for one element of each storage type; integers wrap as in two's complement.
template <typename T> struct AddOp {
    static inline void apply(char* dst, const char* src) {
        using U = typename std::make_unsigned<T>::type;
        T a, b;
        std::memcpy(&a, dst, sizeof(T));
        std::memcpy(&b, src, sizeof(T));
        const T r = static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
        std::memcpy(dst, &r, sizeof(T));
    }
};
struct AddBool {
    static inline void apply(char* dst, const char* src) { *dst = static_cast<char>((*dst != 0) | (*src != 0)); }
};
template <typename T> struct AddFloat {
    static inline void apply(char* dst, const char* src) {
        T a, b;
        std::memcpy(&a, dst, sizeof(T));
        std::memcpy(&b, src, sizeof(T));
        a += b;
        std::memcpy(dst, &a, sizeof(T));
    }
};
struct AddHalf {  // computed in float32 and rounded once per addition, as numpy's float16 add
    static inline void apply(char* dst, const char* src) {
        uint16_t a, b;
        std::memcpy(&a, dst, 2);
        std::memcpy(&b, src, 2);
        const uint16_t r = float_to_half(half_to_float(a) + half_to_float(b));
        std::memcpy(dst, &r, 2);
    }
};
struct AddBF16 {
    static inline void apply(char* dst, const char* src) {
        uint16_t a, b;
        std::memcpy(&a, dst, 2);
        std::memcpy(&b, src, 2);
        const uint16_t r = float_to_bf16(bf16_to_float(a) + bf16_to_float(b));
        std::memcpy(dst, &r, 2);
    }
};
template <size_t N> struct CopyInto {   // scatter: destination <- source
    static inline void apply(char* dst, const char* src) { std::memcpy(dst, src, N); }
};
template <size_t N> struct CopyFrom {   // gather: the indexed operand is the source
    static inline void apply(char* indexed, char* other) { std::memcpy(other, indexed, N); }
};

// The walk shared by every kernel: for each position p of `shape`, the indexed
// operand `a` is addressed at p with p[dim] replaced by index[p] (its byte
// stride along dim is `a_dim_stride`, its extent `a_dim_size`), the other
// operand `b` at p. Positions are visited in row-major order, so repeated
// indices accumulate in the order np.add.at uses.
struct Walk {
    std::vector<ssize> shape, sa, si, sb;  // byte strides; sa[dim] is 0: the index supplies that coordinate
    ssize a_dim_stride = 0, a_dim_size = 0;
};

static inline int64_t load_index(const char* p) { int64_t v; std::memcpy(&v, p, 8); return v; }

// Drop size-1 dims and merge neighbours that are one run of memory in every
// operand (row-major order is kept), so the inner loop runs as long as it can.
static void coalesce(std::vector<ssize>& shape, std::vector<std::vector<ssize>*> strides) {
    for (ssize n : shape) if (n == 0) return;
    std::vector<ssize> ns;
    std::vector<std::vector<ssize>> nst(strides.size());
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;
        bool merge = !ns.empty();
        for (size_t k = 0; merge && k < strides.size(); ++k)
            merge = nst[k].back() == (*strides[k])[d] * shape[d];
        if (merge) {
            ns.back() *= shape[d];
            for (size_t k = 0; k < strides.size(); ++k) nst[k].back() = (*strides[k])[d];
            continue;
        }
        ns.push_back(shape[d]);
        for (size_t k = 0; k < strides.size(); ++k) nst[k].push_back((*strides[k])[d]);
    }
    if (ns.empty()) {
        ns.push_back(1);
        for (auto& v : nst) v.push_back(0);
    }
    shape = ns;
    for (size_t k = 0; k < strides.size(); ++k) *strides[k] = nst[k];
}

// Calls row(offset_0, ..., offset_{N-1}) with the byte offsets of each operand at
// the start of every innermost row, in row-major order; false from row stops it.
template <size_t N, typename Row>
static bool for_each_row(const std::vector<ssize>& shape, const std::array<const std::vector<ssize>*, N>& st, Row row) {
    const size_t nd = shape.size();
    for (ssize n : shape) if (n == 0) return true;
    ssize outer = 1;
    for (size_t d = 0; d + 1 < nd; ++d) outer *= shape[d];
    std::vector<ssize> ctr(nd, 0);
    std::array<ssize, N> off{};
    for (ssize o = 0; o < outer; ++o) {
        if (!row(off)) return false;
        for (ssize d = static_cast<ssize>(nd) - 2; d >= 0; --d) {
            if (++ctr[d] < shape[d]) {
                for (size_t k = 0; k < N; ++k) off[k] += (*st[k])[d];
                break;
            }
            for (size_t k = 0; k < N; ++k) off[k] -= (*st[k])[d] * (shape[d] - 1);
            ctr[d] = 0;
        }
    }
    return true;
}

// Op::apply(element of the indexed operand, element of the other operand).
// Returns false if an index outside [0, a_dim_size) was met (the walk stops there).
template <typename Op>
static bool walk(char* a, const char* idx, char* b, const Walk& g) {
    const size_t last = g.shape.size() - 1;
    const ssize inner = g.shape[last], sa_in = g.sa[last], si_in = g.si[last], sb_in = g.sb[last];
    const ssize dstride = g.a_dim_stride;
    const uint64_t lim = static_cast<uint64_t>(g.a_dim_size);
    return for_each_row<3>(g.shape, {&g.sa, &g.si, &g.sb}, [&](const std::array<ssize, 3>& off) {
        char* qa = a + off[0];
        const char* qi = idx + off[1];
        char* qb = b + off[2];
        for (ssize k = 0; k < inner; ++k) {
            const int64_t j = load_index(qi);
            if (static_cast<uint64_t>(j) >= lim) return false;
            Op::apply(qa + j * dstride, qb);
            qa += sa_in; qi += si_in; qb += sb_in;
        }
        return true;
    });
}

// The first value of a strided int64 array outside [0, n), if any. Dims along
// which the array repeats itself (stride 0) are read once.
static bool find_bad_index(const char* p, std::vector<ssize> shape, std::vector<ssize> st, ssize n, int64_t* bad) {
    for (size_t d = 0; d < shape.size(); ++d)
        if (st[d] == 0 && shape[d] > 0) shape[d] = 1;
    coalesce(shape, {&st});
    const size_t last = shape.size() - 1;
    const ssize inner = shape[last], s_in = st[last];
    const uint64_t lim = static_cast<uint64_t>(n);
    return !for_each_row<1>(shape, {&st}, [&](const std::array<ssize, 1>& off) {
        const char* q = p + off[0];
        for (ssize k = 0; k < inner; ++k, q += s_in) {
            const int64_t v = load_index(q);
            if (static_cast<uint64_t>(v) >= lim) { *bad = v; return false; }
        }
        return true;
    });
}

static std::vector<ssize> dims_of(const py::array& a) { return std::vector<ssize>(a.shape(), a.shape() + a.ndim()); }
static std::vector<ssize> strides_of(const py::array& a) { return std::vector<ssize>(a.strides(), a.strides() + a.ndim()); }

static std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (ssize d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

static void check_index_array(const py::array& index) {
    if (index.dtype().kind() != 'i' || index.itemsize() != 8)
        throw py::type_error("index must be an int64 array, got dtype " + std::string(py::str(index.dtype())));
}

static char* writable_data(py::array& a, const char* what) {
    if (!a.writeable()) throw py::value_error(std::string(what) + ": destination array is read-only");
    return static_cast<char*>(a.mutable_data());
}

// Geometry of gather/scatter: `a` is indexed along dim, `b` is read or written at the index's positions.
static Walk scatter_walk(const py::array& a, ssize dim, const py::array& index, const py::array& b, const char* what) {
    const ssize nd = a.ndim();
    if (nd < 1 || index.ndim() != nd || b.ndim() != nd)
        throw py::value_error(std::string(what) + ": operands need one number of dimensions (>= 1), got " +
                              shape_str(a) + ", index " + shape_str(index) + ", " + shape_str(b));
    if (dim < 0 || dim >= nd) throw py::value_error(std::string(what) + ": dim " + std::to_string(dim) + " out of range");
    if (a.itemsize() != b.itemsize())
        throw py::value_error(std::string(what) + ": operands differ in item size");
    for (ssize d = 0; d < nd; ++d) {
        if (index.shape(d) > b.shape(d) || (d != dim && index.shape(d) > a.shape(d)))
            throw py::value_error(std::string(what) + ": index of shape " + shape_str(index) +
                                  " is larger than an operand, " + shape_str(a) + " or " + shape_str(b));
    }
    Walk g;
    g.shape = dims_of(index);
    g.sa = strides_of(a);
    g.si = strides_of(index);
    g.sb = strides_of(b);
    g.a_dim_stride = g.sa[dim];
    g.a_dim_size = a.shape(dim);
    g.sa[dim] = 0;
    return g;
}

// Check every index (before any write), then walk. The GIL is released meanwhile.
template <typename Op>
static void run_walk(char* a, const char* idx, char* b, Walk g, ssize dim,
                     const std::vector<ssize>& ishape, const std::vector<ssize>& istrides) {
    int64_t bad = 0;
    bool found, ok = true;
    {
        py::gil_scoped_release release;
        found = find_bad_index(idx, ishape, istrides, g.a_dim_size, &bad);
        if (!found) {
            coalesce(g.shape, {&g.sa, &g.si, &g.sb});
            ok = walk<Op>(a, idx, b, g);
        }
    }
    if (found)
        throw py::index_error("index " + std::to_string(bad) + " is out of bounds for dimension " +
                              std::to_string(dim) + " with size " + std::to_string(g.a_dim_size));
    if (!ok) throw py::index_error("an index changed while it was being used; the result is not valid");
}

template <template <size_t> class Op>
static void dispatch_copy(size_t itemsize, char* a, const char* idx, char* b, const Walk& g, ssize dim,
                          const std::vector<ssize>& ishape, const std::vector<ssize>& istrides) {
    switch (itemsize) {
        case 1: return run_walk<Op<1>>(a, idx, b, g, dim, ishape, istrides);
        case 2: return run_walk<Op<2>>(a, idx, b, g, dim, ishape, istrides);
        case 4: return run_walk<Op<4>>(a, idx, b, g, dim, ishape, istrides);
        case 8: return run_walk<Op<8>>(a, idx, b, g, dim, ishape, istrides);
        default: throw py::type_error("unsupported item size " + std::to_string(itemsize));
    }
}

// `kind` is the Ember dtype's name; the item size is checked against it.
static void dispatch_add(const std::string& kind, size_t itemsize, char* a, const char* idx, char* b, const Walk& g,
                         ssize dim, const std::vector<ssize>& ishape, const std::vector<ssize>& istrides) {
    auto need = [&](size_t n) {
        if (itemsize != n)
            throw py::type_error("dtype '" + kind + "' does not match the arrays' item size " + std::to_string(itemsize));
    };
#define EMBER_ADD(name, size, Op) \
    if (kind == name) { need(size); return run_walk<Op>(a, idx, b, g, dim, ishape, istrides); }
    EMBER_ADD("bool", 1, AddBool)
    EMBER_ADD("uint8", 1, AddOp<uint8_t>)
    EMBER_ADD("int8", 1, AddOp<int8_t>)
    EMBER_ADD("int16", 2, AddOp<int16_t>)
    EMBER_ADD("int32", 4, AddOp<int32_t>)
    EMBER_ADD("int64", 8, AddOp<int64_t>)
    EMBER_ADD("float16", 2, AddHalf)
    EMBER_ADD("bfloat16", 2, AddBF16)
    EMBER_ADD("float32", 4, AddFloat<float>)
    EMBER_ADD("float64", 8, AddFloat<double>)
#undef EMBER_ADD
    throw py::type_error("unsupported dtype '" + kind + "'");
}

static const char* cdata(const py::array& a) { return static_cast<const char*>(a.data()); }

// out[p] = x[p with p[dim] = index[p]]
static void gather_native(py::array x, ssize dim, py::array index, py::array out) {
    check_index_array(index);
    bool same = out.ndim() == index.ndim();
    for (ssize d = 0; same && d < out.ndim(); ++d) same = out.shape(d) == index.shape(d);
    if (!same) throw py::value_error("gather: out must have the index's shape " + shape_str(index));
    Walk g = scatter_walk(x, dim, index, out, "gather");
    char* o = writable_data(out, "gather");
    dispatch_copy<CopyFrom>(x.itemsize(), const_cast<char*>(cdata(x)), cdata(index), o, g, dim, g.shape, g.si);
}

// self[p with p[dim] = index[p]] = src[p]
static void scatter_native(py::array self, ssize dim, py::array index, py::array src) {
    check_index_array(index);
    Walk g = scatter_walk(self, dim, index, src, "scatter");
    char* s = writable_data(self, "scatter");
    dispatch_copy<CopyInto>(self.itemsize(), s, cdata(index), const_cast<char*>(cdata(src)), g, dim, g.shape, g.si);
}

// self[p with p[dim] = index[p]] += src[p]
static void scatter_add_native(py::array self, ssize dim, py::array index, py::array src, const std::string& kind) {
    check_index_array(index);
    Walk g = scatter_walk(self, dim, index, src, "scatter_add");
    char* s = writable_data(self, "scatter_add");
    dispatch_add(kind, self.itemsize(), s, cdata(index), const_cast<char*>(cdata(src)), g, dim, g.shape, g.si);
}

// self.select(dim, index[i]) += source.select(dim, i) for every i: a scatter_add
// whose index is the 1-d index read along dim (stride 0 elsewhere).
static void index_add_native(py::array self, ssize dim, py::array index, py::array source, const std::string& kind) {
    check_index_array(index);
    const ssize nd = self.ndim();
    if (nd < 1 || source.ndim() != nd || index.ndim() != 1)
        throw py::value_error("index_add: self and source need one number of dimensions (>= 1) and index one dimension");
    if (dim < 0 || dim >= nd) throw py::value_error("index_add: dim " + std::to_string(dim) + " out of range");
    if (self.itemsize() != source.itemsize()) throw py::value_error("index_add: operands differ in item size");
    for (ssize d = 0; d < nd; ++d) {
        const ssize want = d == dim ? index.shape(0) : self.shape(d);
        if (source.shape(d) != want)
            throw py::value_error("index_add: source of shape " + shape_str(source) + " does not fit self " +
                                  shape_str(self) + " and index " + shape_str(index));
    }
    Walk g;
    g.shape = dims_of(source);
    g.sa = strides_of(self);
    g.sb = strides_of(source);
    g.si.assign(nd, 0);
    g.si[dim] = index.strides(0);
    g.a_dim_stride = g.sa[dim];
    g.a_dim_size = self.shape(dim);
    g.sa[dim] = 0;
    char* s = writable_data(self, "index_add");
    dispatch_add(kind, self.itemsize(), s, cdata(index), const_cast<char*>(cdata(source)), g, dim,
                 {index.shape(0)}, {index.strides(0)});
}

// Philox4x32-10 (Salmon et al., Random123). Element n of out is word n % 4 of the block at the
// 128-bit counter (off_hi:off_lo) + n / 4 under key (k0, k1); see ember.ops.random.philox_random.
static inline void philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const uint64_t p0 = uint64_t(0xD2511F53u) * c[0];
        const uint64_t p1 = uint64_t(0xCD9E8D57u) * c[2];
        const uint32_t n0 = uint32_t(p1 >> 32) ^ c[1] ^ k0;
        const uint32_t n2 = uint32_t(p0 >> 32) ^ c[3] ^ k1;
        c[1] = uint32_t(p1);
        c[3] = uint32_t(p0);
        c[0] = n0;
        c[2] = n2;
    }
}

static void philox_fill(py::array_t<int64_t, py::array::c_style> out, uint64_t seed, uint64_t off_lo,
                        uint64_t off_hi) {
    int64_t* o = out.mutable_data();
    const py::ssize_t n = out.size();
    const uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    py::gil_scoped_release release;
    for (py::ssize_t b = 0; b * 4 < n; ++b) {
        const uint64_t lo = off_lo + uint64_t(b);
        const uint64_t hi = off_hi + (lo < off_lo ? 1u : 0u);
        uint32_t c[4] = {uint32_t(lo), uint32_t(lo >> 32), uint32_t(hi), uint32_t(hi >> 32)};
        philox4x32_10(c, k0, k1);
        const py::ssize_t base = b * 4;
        const py::ssize_t m = n - base < 4 ? n - base : 4;
        for (py::ssize_t j = 0; j < m; ++j) o[base + j] = int64_t(c[j]);
    }
}

// float32 erf: an odd rational approximation on [-4, 4] (beyond, erf is +-1 in float32), written as
// plain arithmetic so that the loop vectorizes; within 5e-7 of erf everywhere, relative error included
// near 0. (float64 keeps std::erf: its tolerance is 1e-12.)
static inline float erf_f32_one(float x) {
    x = x < -4.f ? -4.f : (x > 4.f ? 4.f : x);
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

static void erf_f32_loop(const float* __restrict p, float* __restrict o, py::ssize_t n) {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) o[i] = erf_f32_one(p[i]);   // NaN passes the clamps as NaN
}

static py::array_t<float> erf_f32(py::array_t<float, py::array::c_style | py::array::forcecast> x) {
    py::array_t<float> out(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    erf_f32_loop(x.data(), out.mutable_data(), x.size());
    return out;
}

PYBIND11_MODULE(_native, m) {
    m.doc() = "Ember cpu native kernels";
    m.def("erf", [](F64Array x) { return map_f64(x, [](double v) { return std::erf(v); }); });
    m.def("erf_f32", &erf_f32, "erf of a float32 array (a rational approximation, within 5e-7).");
    m.def("erfc", [](F64Array x) { return map_f64(x, [](double v) { return std::erfc(v); }); });
    m.def("erfinv", [](F64Array x) { return map_f64(x, erfinv); });
    m.def("philox_fill", &philox_fill, py::arg("out"), py::arg("seed"), py::arg("off_lo"), py::arg("off_hi"),
          "Fill the contiguous int64 array out with Philox4x32-10 words from counter (off_hi:off_lo), key seed.");
    m.def("gather", &gather_native, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("out"),
          "out[p] = x[p with p[dim] = index[p]]; IndexError for an index outside [0, x.shape[dim]).");
    m.def("scatter", &scatter_native, py::arg("self"), py::arg("dim"), py::arg("index"), py::arg("src"),
          "self[p with p[dim] = index[p]] = src[p], in place.");
    m.def("scatter_add", &scatter_add_native, py::arg("self"), py::arg("dim"), py::arg("index"), py::arg("src"),
          py::arg("kind"), "self[p with p[dim] = index[p]] += src[p], in place; kind names the dtype.");
    m.def("index_add", &index_add_native, py::arg("self"), py::arg("dim"), py::arg("index"), py::arg("source"),
          py::arg("kind"), "self.select(dim, index[i]) += source.select(dim, i), in place; kind names the dtype.");
    register_windows(m);
    register_conv(m);
    register_norm_pool(m);
    register_activation(m);
    register_reduce(m);
    register_elementwise(m);
    register_loss(m);
}
