/* The reuse of large output buffers: a NumPy memory handler (NEP 49) whose freed blocks are
 * kept for the next output of the same size.
 *
 * A fresh block larger than the C library's mmap threshold (32 MiB at most in glibc) comes
 * from the kernel, which zeroes every page at its first write: about 0.1 ms per MiB measured
 * on the machines of this project (10 GB/s, against 30 GB/s for a pass that only reads), a
 * third of the time of a float64 gradient at 8,192 x 1,000, paid on every call. Smaller blocks
 * are reused by malloc itself. xent allocates its large outputs with this handler
 * (xent/_outputs.py): a block freed by its array goes to a short list
 * (at most XB_SLOTS blocks, at most `xb.limit` bytes in all, the oldest freed first when either
 * is exceeded), and the next output of exactly its size takes it back, its pages already
 * mapped. Blocks of 4 MiB and more are marked for transparent huge pages as NumPy marks its
 * own (`hugepage`).
 *
 * A block's data starts XB_OFFSET bytes into a page (its C-library block starts at the page):
 * 64-byte aligned, and half a page away from where NumPy's own large arrays start (16 bytes in,
 * after the header of glibc's mmap chunk). An output that starts a little after its input
 * modulo 4 KiB makes the CPU's loads of the input wait for the stores to the output just before
 * them, whose addresses match in their low twelve bits ("4K aliasing"): outputs 48 bytes after
 * their inputs took 4-8 % more time (8,192 x 1,000 float32 and float64, gradient and
 * log_softmax, AMD EPYC), where 2,112 bytes, 0 or -16 cost nothing.
 *
 * Every call runs with the GIL held (NumPy allocates and frees array data under it), which
 * orders them; the spin lock makes the list safe where Python runs without a GIL too. No call
 * holds it across another call, so a fork cannot leave it taken in the child in a GIL build.
 */
#ifndef XENT_BUFFERS_H
#define XENT_BUFFERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <numpy/ndarraytypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define XB_SLOTS 4
#define XB_OFFSET 2112
#define XB_HUGEPAGE_MIN ((size_t)1 << 22)

typedef struct {
    void *p;
    size_t size;
} xb_block;

static struct {
    atomic_flag lock;
    xb_block slot[XB_SLOTS]; /* the kept blocks, oldest first */
    int n;
    size_t held, limit;
    int hugepage;
    size_t hits, misses;
} xb = {ATOMIC_FLAG_INIT, {{NULL, 0}}, 0, 0, 0, 1, 0, 0};

static void xb_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&xb.lock, memory_order_acquire)) {
    }
}

static void xb_unlock(void) { atomic_flag_clear_explicit(&xb.lock, memory_order_release); }

/* the data of a block from the C library's block, and back */
#define XB_DATA(base) ((void *)((char *)(base) + XB_OFFSET))
#define XB_BASE(p) ((void *)((char *)(p) - XB_OFFSET))

/* a new block from the C library (NULL if none) */
static void *xb_fresh(size_t size)
{
    void *base = NULL;
    if (size > (size_t)-1 - XB_OFFSET || posix_memalign(&base, 4096, size + XB_OFFSET) != 0)
        return NULL;
    void *p = XB_DATA(base);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (xb.hugepage && size >= XB_HUGEPAGE_MIN) {
        /* the whole pages inside the block */
        const uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
        const uintptr_t e = ((uintptr_t)p + size) & ~(uintptr_t)4095;
        if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
#endif
    return p;
}

static void *xb_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = NULL;
    xb_lock();
    for (int i = xb.n - 1; i >= 0; i--) /* the most recently freed first */
        if (xb.slot[i].size == size) {
            p = xb.slot[i].p;
            xb.held -= size;
            memmove(xb.slot + i, xb.slot + i + 1, (size_t)(xb.n - i - 1) * sizeof(xb_block));
            xb.n--;
            break;
        }
    if (p) xb.hits++;
    else xb.misses++;
    xb_unlock();
    return p ? p : xb_fresh(size);
}

static void *xb_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    if (elsize && nelem > ((size_t)-1 - XB_OFFSET) / elsize) return NULL;
    void *base = calloc(1, nelem * elsize + XB_OFFSET);
    return base ? XB_DATA(base) : NULL;
}

static void *xb_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (p == NULL) return xb_fresh(size);
    if (size > (size_t)-1 - XB_OFFSET) return NULL;
    void *base = realloc(XB_BASE(p), size + XB_OFFSET);
    return base ? XB_DATA(base) : NULL;
}

/* Keeps the block if it fits the limit, the oldest blocks given back to free as needed. */
static void xb_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (p == NULL) return;
    xb_block out[XB_SLOTS + 1];
    int n_out = 0;
    xb_lock();
    if (size > xb.limit) {
        out[n_out++] = (xb_block){p, size};
    } else {
        while (xb.n > 0 && (xb.n == XB_SLOTS || xb.held + size > xb.limit)) {
            out[n_out++] = xb.slot[0];
            xb.held -= xb.slot[0].size;
            memmove(xb.slot, xb.slot + 1, (size_t)(xb.n - 1) * sizeof(xb_block));
            xb.n--;
        }
        xb.slot[xb.n++] = (xb_block){p, size};
        xb.held += size;
    }
    xb_unlock();
    for (int i = 0; i < n_out; i++) free(XB_BASE(out[i].p)); /* outside the lock: munmap takes time */
}

/* Sets the limit of the bytes kept (0: none; the blocks beyond it freed now); returns the
 * previous one. */
static size_t xb_set_limit(size_t limit)
{
    xb_block out[XB_SLOTS];
    int n_out = 0;
    xb_lock();
    const size_t old = xb.limit;
    xb.limit = limit;
    while (xb.n > 0 && xb.held > limit) {
        out[n_out++] = xb.slot[0];
        xb.held -= xb.slot[0].size;
        memmove(xb.slot, xb.slot + 1, (size_t)(xb.n - 1) * sizeof(xb_block));
        xb.n--;
    }
    xb_unlock();
    for (int i = 0; i < n_out; i++) free(XB_BASE(out[i].p));
    return old;
}

/* The bytes and blocks kept now, and the allocations served from them and not. */
static void xb_stats(size_t *held, int *blocks, size_t *hits, size_t *misses)
{
    xb_lock();
    *held = xb.held, *blocks = xb.n, *hits = xb.hits, *misses = xb.misses;
    xb_unlock();
}

static void xb_set_hugepage(int on) { xb.hugepage = on; }

static PyDataMem_Handler xb_handler = {
    "xent_output_reuse",
    1,
    {NULL, xb_malloc, xb_calloc, xb_realloc, xb_free},
};

#endif
