// Convolution windows without numpy's strided copies: im2col straight into the GEMM's column layout,
// and col2im accumulating straight into the unpadded gradient (padding is a bounds check, not a copy).
//
// Column layout (the one conv2d's GEMMs use): cols[(c * KH + i) * KW + j, n * OH * OW + oh * OW + ow]
// = x[n, c0 + c, oh * sh - ph + i * dh, ow * sw - pw + j * dw], or 0 where that falls in the padding.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace py = pybind11;
using ssize = py::ssize_t;

namespace {

struct Geometry {
    ssize N, C, H, W;     // the image (all of its channels)
    ssize c0, Cg;         // the channel range taken
    ssize KH, KW, dh, dw, ph, pw, sh, sw, OH, OW;
};

template <typename T>
void im2col(const T* x, const Geometry& g, T* cols) {
    const ssize L = g.OH * g.OW, NL = g.N * L;
    for (ssize c = 0; c < g.Cg; ++c)
        for (ssize i = 0; i < g.KH; ++i)
            for (ssize j = 0; j < g.KW; ++j) {
                T* row = cols + ((c * g.KH + i) * g.KW + j) * NL;
                for (ssize n = 0; n < g.N; ++n) {
                    const T* plane = x + (n * g.C + g.c0 + c) * g.H * g.W;
                    T* r = row + n * L;
                    for (ssize oh = 0; oh < g.OH; ++oh, r += g.OW) {
                        const ssize ih = oh * g.sh - g.ph + i * g.dh;
                        if (ih < 0 || ih >= g.H) {
                            for (ssize ow = 0; ow < g.OW; ++ow) r[ow] = T(0);
                            continue;
                        }
                        const T* xr = plane + ih * g.W;
                        ssize iw = j * g.dw - g.pw;
                        if (g.sw == 1 && iw >= 0 && iw + g.OW <= g.W) {
                            for (ssize ow = 0; ow < g.OW; ++ow) r[ow] = xr[iw + ow];
                            continue;
                        }
                        for (ssize ow = 0; ow < g.OW; ++ow, iw += g.sw) r[ow] = (iw >= 0 && iw < g.W) ? xr[iw] : T(0);
                    }
                }
            }
}

template <typename T>
void col2im(const T* cols, const Geometry& g, T* out) {
    const ssize L = g.OH * g.OW, NL = g.N * L;
    for (ssize c = 0; c < g.Cg; ++c)
        for (ssize i = 0; i < g.KH; ++i)
            for (ssize j = 0; j < g.KW; ++j) {
                const T* row = cols + ((c * g.KH + i) * g.KW + j) * NL;
                for (ssize n = 0; n < g.N; ++n) {
                    T* plane = out + (n * g.C + g.c0 + c) * g.H * g.W;
                    const T* r = row + n * L;
                    for (ssize oh = 0; oh < g.OH; ++oh, r += g.OW) {
                        const ssize ih = oh * g.sh - g.ph + i * g.dh;
                        if (ih < 0 || ih >= g.H) continue;
                        T* orow = plane + ih * g.W;
                        ssize iw = j * g.dw - g.pw;
                        if (g.sw == 1 && iw >= 0 && iw + g.OW <= g.W) {
                            for (ssize ow = 0; ow < g.OW; ++ow) orow[iw + ow] += r[ow];
                            continue;
                        }
                        for (ssize ow = 0; ow < g.OW; ++ow, iw += g.sw)
                            if (iw >= 0 && iw < g.W) orow[iw] += r[ow];
                    }
                }
            }
}

Geometry geometry(const py::array& image, ssize c0, ssize Cg, py::tuple k, py::tuple d, py::tuple p, py::tuple s,
                  py::tuple o, const char* what) {
    if (image.ndim() != 4) throw py::value_error(std::string(what) + ": the image must be 4-d (N, C, H, W)");
    Geometry g{image.shape(0), image.shape(1), image.shape(2), image.shape(3), c0, Cg,
               k[0].cast<ssize>(), k[1].cast<ssize>(), d[0].cast<ssize>(), d[1].cast<ssize>(),
               p[0].cast<ssize>(), p[1].cast<ssize>(), s[0].cast<ssize>(), s[1].cast<ssize>(),
               o[0].cast<ssize>(), o[1].cast<ssize>()};
    if (c0 < 0 || Cg < 0 || c0 + Cg > g.C)
        throw py::value_error(std::string(what) + ": channels [" + std::to_string(c0) + ", " + std::to_string(c0 + Cg) +
                              ") are outside the image's " + std::to_string(g.C));
    if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1)
        throw py::value_error(std::string(what) + ": strides and dilations must be positive");
    return g;
}

void check_cols(const py::array& cols, const Geometry& g, const char* what) {
    if (cols.ndim() != 2 || cols.shape(0) != g.Cg * g.KH * g.KW || cols.shape(1) != g.N * g.OH * g.OW)
        throw py::value_error(std::string(what) + ": columns must have shape (" + std::to_string(g.Cg * g.KH * g.KW) +
                              ", " + std::to_string(g.N * g.OH * g.OW) + ")");
}

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <typename T>
py::array im2col_py(CArray<T> x, ssize c0, ssize Cg, py::tuple k, py::tuple d, py::tuple p, py::tuple s, py::tuple o) {
    Geometry g = geometry(x, c0, Cg, k, d, p, s, o, "im2col");
    CArray<T> cols({g.Cg * g.KH * g.KW, g.N * g.OH * g.OW});
    T* out = cols.mutable_data();
    {
        py::gil_scoped_release release;
        im2col(x.data(), g, out);
    }
    return std::move(cols);
}

template <typename T>
void col2im_py(CArray<T> cols, py::array_t<T> out, ssize c0, py::tuple k, py::tuple d, py::tuple p, py::tuple s,
               py::tuple o) {
    if (!(out.flags() & py::array::c_style) || !out.writeable())
        throw py::value_error("col2im: out must be a writable C-contiguous array");
    const ssize K = k[0].cast<ssize>() * k[1].cast<ssize>();
    Geometry g = geometry(out, c0, K ? cols.shape(0) / K : 0, k, d, p, s, o, "col2im");
    check_cols(cols, g, "col2im");
    T* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        col2im(cols.data(), g, dst);
    }
}

}  // namespace

void register_windows(py::module_& m) {
    const char* im2col_doc =
        "Columns (Cg*KH*KW, N*OH*OW) of the windows of x[:, c0:c0+Cg] (N, C, H, W), zero where a window "
        "meets the padding; k, d, p, s, o are (h, w) pairs of kernel, dilation, padding, stride, output size.";
    const char* col2im_doc =
        "out[:, c0:c0+Cg] += the windows in cols (Cg*KH*KW, N*OH*OW), the adjoint of im2col; out is the "
        "unpadded (N, C, H, W) image, written in place.";
    m.def("im2col_f32", &im2col_py<float>, im2col_doc);
    m.def("im2col_f64", &im2col_py<double>, im2col_doc);
    m.def("col2im_f32", &col2im_py<float>, col2im_doc);
    m.def("col2im_f64", &col2im_py<double>, col2im_doc);
}
