"""The three C dialects: a prelude each, and the few qualifiers that differ inline.

Kernel templates are written once in a neutral C: the words KERNEL, GLOBAL and
LOCAL are the only qualifiers, replaced per dialect (``QUALIFIERS``); everything
else a dialect spells differently (integer types, thread indices, barriers,
atomics, half and bfloat16 conversions, bit casts) is a name the prelude
defines, so the body of a kernel is the same text in every dialect.
"""

from __future__ import annotations

import re
from ember.errors import InvalidArgumentError

QUALIFIERS = {
    "cuda": {"KERNEL": 'extern "C" __global__ void', "GLOBAL": "", "LOCAL": "__shared__", "DEVICE": "__device__ inline"},
    "hip": {"KERNEL": 'extern "C" __global__ void', "GLOBAL": "", "LOCAL": "__shared__", "DEVICE": "__device__ inline"},
    "opencl": {"KERNEL": "__kernel void", "GLOBAL": "__global", "LOCAL": "__local", "DEVICE": "static inline"},
}

_QUAL_RE = re.compile(r"\b(KERNEL|GLOBAL|LOCAL|DEVICE)\b( ?)")


def qualify(text: str, dialect: str) -> str:
    q = QUALIFIERS[dialect]
    return _QUAL_RE.sub(lambda m: q[m.group(1)] + m.group(2) if q[m.group(1)] else "", text)


# -- preludes ------------------------------------------------------------------------

_CUDA_TYPES = """\
typedef signed char i8; typedef unsigned char u8; typedef short i16; typedef unsigned short u16;
typedef int i32; typedef unsigned int u32; typedef long long i64; typedef unsigned long long u64;
typedef float f32; typedef double f64;
#define EK_VEC4(T) struct __align__(4 * sizeof(T)) T##x4 { T x, y, z, w; }
EK_VEC4(u8); EK_VEC4(i8); EK_VEC4(i16); EK_VEC4(u16); EK_VEC4(i32); EK_VEC4(i64); EK_VEC4(f32); EK_VEC4(f64);
typedef struct u8x4 u8x4; typedef struct i8x4 i8x4; typedef struct i16x4 i16x4; typedef struct u16x4 u16x4;
typedef struct i32x4 i32x4; typedef struct i64x4 i64x4; typedef struct f32x4 f32x4; typedef struct f64x4 f64x4;
#define ek_gid() ((i64)blockIdx.x * blockDim.x + threadIdx.x)
#define ek_gsize() ((i64)gridDim.x * blockDim.x)
#define ek_lid() ((i32)threadIdx.x)
#define ek_lid_y() ((i32)threadIdx.y)
#define ek_lsize() ((i32)blockDim.x)
#define ek_group() ((i64)blockIdx.x)
#define ek_group_y() ((i64)blockIdx.y)
#define ek_group_z() ((i64)blockIdx.z)
#define ek_ngroups() ((i64)gridDim.x)
#define ek_ngroups_y() ((i64)gridDim.y)
#define ek_ngroups_z() ((i64)gridDim.z)
#define ek_barrier() __syncthreads()
#define EK_INF __int_as_float(0x7f800000)
#define EK_NAN __int_as_float(0x7fffffff)
__device__ inline f32 ek_u32_as_f32(u32 x) { return __uint_as_float(x); }
__device__ inline u32 ek_f32_as_u32(f32 x) { return __float_as_uint(x); }
__device__ inline u32 ek_cas32(u32* p, u32 cmp, u32 val) { return atomicCAS(p, cmp, val); }
__device__ inline u64 ek_cas64(u64* p, u64 cmp, u64 val) { return atomicCAS(p, cmp, val); }
__device__ inline f64 ek_u64_as_f64(u64 x) { return __longlong_as_double((i64)x); }
__device__ inline u64 ek_f64_as_u64(f64 x) { return (u64)__double_as_longlong(x); }
"""

_CUDA_HALF = """\
__device__ inline f32 ek_h2f(u16 h) { f32 f; asm("{cvt.f32.f16 %0, %1;}" : "=f"(f) : "h"(h)); return f; }
__device__ inline u16 ek_f2h(f32 f) { u16 h; asm("{cvt.rn.f16.f32 %0, %1;}" : "=h"(h) : "f"(f)); return h; }
"""

_HIP_HALF = """\
__device__ inline f32 ek_h2f(u16 h) { _Float16 x; __builtin_memcpy(&x, &h, 2); return (f32)x; }
__device__ inline u16 ek_f2h(f32 f) { _Float16 x = (_Float16)f; u16 h; __builtin_memcpy(&h, &x, 2); return h; }
"""

_OPENCL_TYPES = """\
typedef char i8; typedef uchar u8; typedef short i16; typedef ushort u16;
typedef int i32; typedef uint u32; typedef long i64; typedef ulong u64;
typedef float f32;
typedef uchar4 u8x4; typedef char4 i8x4; typedef short4 i16x4; typedef ushort4 u16x4;
typedef int4 i32x4; typedef long4 i64x4; typedef float4 f32x4;
#define ek_gid() ((i64)get_global_id(0))
#define ek_gsize() ((i64)get_global_size(0))
#define ek_lid() ((i32)get_local_id(0))
#define ek_lid_y() ((i32)get_local_id(1))
#define ek_lsize() ((i32)get_local_size(0))
#define ek_group() ((i64)get_group_id(0))
#define ek_group_y() ((i64)get_group_id(1))
#define ek_group_z() ((i64)get_group_id(2))
#define ek_ngroups() ((i64)get_num_groups(0))
#define ek_ngroups_y() ((i64)get_num_groups(1))
#define ek_ngroups_z() ((i64)get_num_groups(2))
#define ek_barrier() barrier(CLK_LOCAL_MEM_FENCE)
#define EK_INF as_float(0x7f800000)
#define EK_NAN as_float(0x7fffffff)
static inline f32 ek_u32_as_f32(u32 x) { return as_float(x); }
static inline u32 ek_f32_as_u32(f32 x) { return as_uint(x); }
static inline u32 ek_cas32(__global u32* p, u32 cmp, u32 val) { return atomic_cmpxchg((volatile __global u32*)p, cmp, val); }
#ifdef cl_khr_int64_base_atomics
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
static inline u64 ek_cas64(__global u64* p, u64 cmp, u64 val) { return atom_cmpxchg((volatile __global u64*)p, cmp, val); }
#endif
static inline f32 ek_h2f(u16 h) { return vload_half(0, (const __private half*)&h); }
static inline u16 ek_f2h(f32 f) { u16 h; vstore_half_rte(f, 0, (__private half*)&h); return h; }
"""

_OPENCL_FP64 = """\
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double f64;
typedef double4 f64x4;
static inline f64 ek_u64_as_f64(u64 x) { return as_double(x); }
static inline u64 ek_f64_as_u64(f64 x) { return as_ulong(x); }
"""

# Shared by every dialect (after the dialect's own part): bfloat16 as 16-bit words.
_COMMON = """\
DEVICE f32 ek_bf2f(u16 b) { return ek_u32_as_f32((u32)b << 16); }
DEVICE u16 ek_f2bf(f32 f) {
    u32 u = ek_f32_as_u32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
}
"""


def prelude(dialect: str, fp64: bool = True) -> str:
    if dialect == "cuda":
        head = "/* ember_kernelgen: CUDA C */\n" + _CUDA_TYPES + _CUDA_HALF
    elif dialect == "hip":
        head = ("/* ember_kernelgen: HIP C */\n#include <hip/hip_runtime.h>\n"
                + _CUDA_TYPES + _HIP_HALF)
    elif dialect == "opencl":
        head = "/* ember_kernelgen: OpenCL C */\n" + _OPENCL_TYPES + (_OPENCL_FP64 if fp64 else "")
    else:
        raise InvalidArgumentError(f"unknown dialect {dialect!r}; expected one of 'cuda', 'hip', 'opencl'")
    return head + qualify(_COMMON, dialect)


PRELUDE_END = "/* -- end of prelude -- */\n"
