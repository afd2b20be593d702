# cython: language_level=3
"""Large output arrays whose memory is reused from one call to the next (see buffers.h)."""

import numpy as np

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_New

cnp.import_array()

cdef extern from "buffers.h":
    ctypedef struct PyDataMem_Handler:
        pass
    PyDataMem_Handler xb_handler
    size_t xb_set_limit(size_t limit)
    void xb_stats(size_t *held, int *blocks, size_t *hits, size_t *misses)
    void xb_set_hugepage(int on)

cdef object _HANDLER = PyCapsule_New(&xb_handler, "mem_handler", NULL)


def empty(shape, dtype):
    """``np.empty(shape, dtype)`` whose data comes from the kept blocks when one has its size,
    and goes back to them when the array is freed."""
    old = cnp.PyDataMem_SetHandler(_HANDLER)
    try:
        return np.empty(shape, dtype)
    finally:
        cnp.PyDataMem_SetHandler(old)


def set_limit(size_t limit):
    """Sets the bytes of freed blocks kept (0: none, and those kept now are freed); returns
    the previous limit."""
    return xb_set_limit(limit)


def set_hugepage(bint on):
    """Whether blocks of 4 MiB and more are marked for transparent huge pages."""
    xb_set_hugepage(on)


def stats():
    """(bytes kept, blocks kept, allocations served from them, allocations not)."""
    cdef size_t held, hits, misses
    cdef int blocks
    xb_stats(&held, &blocks, &hits, &misses)
    return held, blocks, hits, misses
