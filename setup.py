"""Build of the compiled kernels; everything else is in pyproject.toml."""

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

KERNELS = "xent/_kernels/"
X86 = platform.machine().lower() in ("x86_64", "amd64")

# IEEE arithmetic in every SIMD variant: no contraction into FMA by the compiler (the variants
# would differ in their last bits; the kernels write out the multiply-adds they use, which the
# variants for CPUs with the FMA instruction round once: xmath.h xm__fma, xvec.h XV(fma)) and
# never -ffast-math (TwoSum, inf and NaN need exact IEEE semantics).
# The sources, the longest to compile first (ParallelBuildExt keeps this order; setuptools
# would sort them by name). The AVX2 and AVX-512 variants are two units each, their float
# kernels and the rest (instance.h XK_PART), so that the cores share each variant. Their
# compile on two cores of an AMD EPYC Zen 1, two at a time: 188, 128, 115, 79, 51, 21 and 2 s.
SOURCES = [
    KERNELS + name
    for name in (
        "kernels_avx2_float.cpp" if X86 else "kernels_avx2_float.c",
        "kernels_avx2.cpp" if X86 else "kernels_avx2.c",
        "kernels_baseline.c",
        "kernels_avx512_float.c",
        "kernels_avx512.c",
        "_core.pyx",
        "kernels.c",
    )
]

extension = Extension(
    "xent._kernels._core",
    sources=SOURCES,
    # linked as C: the C++ of kernels_avx2.cpp uses no C++ run-time library
    language="c",
    include_dirs=[numpy.get_include(), "xent/_kernels"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    depends=[KERNELS + name for name in ("kernels.h", "instance.h", "body.h", "kl.h")]
    + [KERNELS + name for name in ("xmath.h", "xmath_tables.h", "xvec.h", "xvec_pieces.h")]
    + [KERNELS + "kernels_avx2.c", KERNELS + "kernels_avx512.c", KERNELS + "pool.h"],
    extra_compile_args=[
        "-O2",
        # no debug information (Python's flags ask for it): a third of the compile time
        "-g0",
        "-fvect-cost-model=dynamic",
        "-std=c11",
        "-ffp-contract=off",
        "-fno-math-errno",
        "-fno-trapping-math",
        # 64-byte vectors (xvec.h) in the baseline variant: only passed between inlined functions
        "-Wno-psabi",
    ],
)


# The AVX2 variant is kernels_avx2.c compiled as C++ (kernels_avx2.cpp includes it): there its
# 64-byte vectors are structs of two 32-byte GCC vectors with C++ operators (xvec_pieces.h),
# which GCC keeps in registers, where a 64-byte GCC vector lives in memory on a CPU without
# AVX-512 (3-4x the time). Its instruction set comes from the command line, because GCC's C++
# front end reads the whole file before a `#pragma GCC target` takes effect, so the pragma does
# not define __AVX2__ and __FMA__ for the preprocessor. Where the compiler cannot compile C++,
# kernels_avx2.c is compiled as C instead: the same results, at the slower speed.
CXX_FLAGS = ["-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"]
FILE_FLAGS = {name: ["-march=x86-64-v3"] for name in ("kernels_avx2.cpp", "kernels_avx2_float.cpp")}

# On x86-64 the baseline variant (SSE2) runs only on CPUs without AVX2 (made before 2013): it is
# compiled at -O1, half its -O2 compile time, and with its passes' flags read at run time
# (kernels_baseline.c), for the same bits (IEEE operations, no contraction: neither changes a
# result). Elsewhere it is the only variant and keeps -O2.
LIGHT = {"kernels_baseline.c"} if X86 else set()


# Compiled objects are kept in the tree, under a hash of what makes them (see ObjectCache).
OBJECT_CACHE = os.path.join("build", "objects")


class ObjectCache:
    """Compiled objects of the tree, under a hash of everything that goes into one.

    The key of a source's object is the hash of the source's bytes, the extension's ``depends``
    (every header the kernels include, and NumPy's that cythonize adds), the compiler's command,
    version and flags, and the versions of Python and NumPy. A build whose
    temporary directory is new each time (an editable install, a wheel, each with build
    isolation) then compiles only the sources that changed: after an edit of ``_core.pyx`` the
    kernels' variants (minutes of compiling) are taken as they are, and a wheel built after an
    install of the same tree only links. ``build_ext --force`` compiles everything again.
    """

    def __init__(self, compiler) -> None:  # type: ignore[no-untyped-def]
        command = list(compiler.compiler_so) + list(getattr(compiler, "compiler_so_cxx", []))
        try:
            version = subprocess.run(
                [command[0], "--version"], capture_output=True, text=True, check=False
            ).stdout
        except OSError:
            version = ""
        self.base = repr((command, version, sys.version, numpy.__version__))

    def key(self, source, depends, flags, macros):  # type: ignore[no-untyped-def]
        digest = hashlib.sha256(repr((self.base, flags, macros)).encode())
        # files by name and content: cythonize adds NumPy's headers to depends by their path in
        # the build's environment, a new temporary directory in each isolated build
        for path in (source, *sorted(depends or ())):
            with open(path, "rb") as f:
                data = f.read()
            # cythonize's metadata comment names NumPy's headers by that path too (the same
            # C code otherwise): a wheel built after an install compiled _core.c again
            start = data.find(b"/* BEGIN: Cython Metadata")
            end = data.find(b"END: Cython Metadata */", start)
            if start >= 0 and end >= 0:
                data = data[:start] + data[end:]
            digest.update(os.path.basename(path).encode() + b"\0" + data)
        return os.path.join(OBJECT_CACHE, digest.hexdigest() + ".o")

    @staticmethod
    def fetch(cached, obj):  # type: ignore[no-untyped-def]
        """Copy the cached object to obj; False if there is none."""
        if not os.path.exists(cached):
            return False
        os.makedirs(os.path.dirname(obj) or ".", exist_ok=True)
        shutil.copyfile(cached, obj)
        return True

    @staticmethod
    def store(obj, cached):  # type: ignore[no-untyped-def]
        os.makedirs(OBJECT_CACHE, exist_ok=True)
        shutil.copyfile(obj, cached + ".tmp")
        os.replace(cached + ".tmp", cached)


class ParallelBuildExt(build_ext):
    """build_ext compiling an extension's sources in parallel, one compiler process per core.

    setuptools compiles the sources of one extension one after the other; the SIMD variants of
    the kernels are separate files so that they can be compiled at the same time. The number of
    processes is the build's ``--parallel``/``-j`` if given, else the CPUs this process may use.
    Objects come from the tree's ObjectCache where one was compiled from the same inputs.
    """

    def build_extensions(self) -> None:
        if isinstance(self.parallel, int) and self.parallel > 0:
            jobs = self.parallel
        elif hasattr(os, "sched_getaffinity"):
            jobs = len(os.sched_getaffinity(0))
        else:
            jobs = os.cpu_count() or 1
        compile_many = self.compiler.compile
        cache = ObjectCache(self.compiler)

        def flags(name, base):  # type: ignore[no-untyped-def]
            if name.endswith(".cpp"):
                base = [f for f in base if not f.startswith("-std=")] + CXX_FLAGS
            return [*base, *FILE_FLAGS.get(name, []), *(["-O1"] if name in LIGHT else [])]

        def compile_unix(source, *args, **kwargs):  # type: ignore[no-untyped-def]
            """The source's objects, and whether they came from the C fallback of a .cpp."""
            name, base = os.path.basename(source), kwargs.pop("extra_postargs", [])
            try:
                objects = compile_many([source], *args, **kwargs, extra_postargs=flags(name, base))
                return objects, False
            except CompileError:
                if not name.endswith(".cpp"):
                    raise
            # no C++ compiler: the same variant from its C source
            print(f"warning: {name} did not compile as C++; compiling it as C (slower)")
            source, name = source[: -len(".cpp")] + ".c", name[: -len(".cpp")] + ".c"
            return compile_many([source], *args, **kwargs, extra_postargs=flags(name, base)), True

        def compile_one(source, *args, **kwargs):  # type: ignore[no-untyped-def]
            if self.compiler.compiler_type != "unix":
                return compile_many([source], *args, **kwargs)
            (obj,) = self.compiler.object_filenames([source], output_dir=kwargs["output_dir"])
            name = os.path.basename(source)
            cached = cache.key(
                source,
                kwargs.get("depends"),
                flags(name, kwargs.get("extra_postargs", [])),
                kwargs.get("macros"),
            )
            if not self.force and ObjectCache.fetch(cached, obj):
                print(f"{name}: compiled before from the same inputs ({cached})")
                return [obj]
            start = time.monotonic()
            objects, fallback = compile_unix(source, *args, **kwargs)
            print(f"{name}: compiled in {time.monotonic() - start:.0f} s")
            if not fallback:  # the slower C build is not kept for a later build with g++
                ObjectCache.store(obj, cached)
            return objects

        def stem(path):  # type: ignore[no-untyped-def]
            return os.path.splitext(os.path.basename(path))[0]

        # each source's place in SOURCES (cythonize turns _core.pyx into _core.c)
        rank = {stem(path): i for i, path in enumerate(SOURCES)}

        def compile_all(sources, *args, **kwargs):  # type: ignore[no-untyped-def]
            sources = sorted(sources, key=lambda path: rank.get(stem(path), len(rank)))
            with ThreadPoolExecutor(max(1, jobs)) as pool:
                done = pool.map(lambda source: compile_one(source, *args, **kwargs), sources)
                return [obj for objects in done for obj in objects]

        self.compiler.compile = compile_all
        self.parallel = None  # the extensions themselves one after the other (there is one)
        super().build_extensions()


# the reuse of large output arrays' memory (a NumPy memory handler): its own small module, not
# rebuilt with the kernels
buffers = Extension(
    "xent._kernels._buffers",
    sources=[KERNELS + "_buffers.pyx"],
    language="c",
    include_dirs=[numpy.get_include(), "xent/_kernels"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    depends=[KERNELS + "buffers.h"],
    extra_compile_args=["-O2", "-g0", "-std=c11"],
)


setup(
    ext_modules=cythonize([extension, buffers], compiler_directives={"language_level": "3"}),
    cmdclass={"build_ext": ParallelBuildExt},
)
