// Vectors for the kernels that choose the cpu's instruction set at run time (conv.cpp, norm_pool.cpp).
//
// A kernel body is a template on the vector size VB in bytes, written with GCC's vector extensions and
// always inlined; one thin wrapper per instruction set (EMBER_AVX512, EMBER_AVX2, or none: SSE2, which
// every x86-64 cpu has) instantiates it, so that each copy is compiled for its own registers. Nothing with a
// target attribute is ever shared between translation units, so no AVX code can reach a cpu without it.
#pragma once

#include <cstring>

// vector arguments and results of the always-inlined helpers below never cross a call, so no ABI is involved
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ember_simd {

enum Isa { kBase = 0, kAvx2 = 1, kAvx512 = 2 };

Isa detected();           // the widest instruction set this cpu runs
Isa level();              // the one the kernels use: detected(), or lower after set_level
void set_level(Isa isa);  // use at most isa (tests run every code path on one cpu); clamped to detected()
const char* name(Isa isa);

template <typename T, int VB>
struct Vec {
    typedef T type __attribute__((vector_size(VB)));
};

#define EMBER_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__) || defined(__i386__)
#define EMBER_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define EMBER_AVX2 __attribute__((target("avx2,fma")))
#define EMBER_HAS_ISA_TARGETS 1
#else
#define EMBER_AVX512
#define EMBER_AVX2
#define EMBER_HAS_ISA_TARGETS 0
#endif

// unaligned vector load and store
template <typename V, typename T>
EMBER_INLINE V vload(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template <typename V, typename T>
EMBER_INLINE void vstore(T* p, const V& v) {
    std::memcpy(p, &v, sizeof v);
}

template <typename T, typename V>
EMBER_INLINE T hsum(const V& v) {
    T s = T(0);
    for (unsigned i = 0; i < sizeof(V) / sizeof(T); ++i) s += v[i];
    return s;
}

}  // namespace ember_simd
