"""Build of the compiled kernels; everything else is in pyproject.toml."""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# IEEE arithmetic in every SIMD variant: no contraction into FMA (the variants would differ in
# their last bits) and never -ffast-math (TwoSum, inf and NaN need exact IEEE semantics).
extension = Extension(
    "xent._kernels._core",
    sources=["xent/_kernels/_core.pyx", "xent/_kernels/kernels.c"],
    include_dirs=[numpy.get_include(), "xent/_kernels"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    extra_compile_args=[
        "-O2",
        "-fvect-cost-model=dynamic",
        "-std=c11",
        "-ffp-contract=off",
        "-fno-math-errno",
        "-fno-trapping-math",
        # 64-byte vectors (xvec.h) in the baseline variant: only passed between inlined functions
        "-Wno-psabi",
    ],
)

setup(ext_modules=cythonize([extension], compiler_directives={"language_level": "3"}))
