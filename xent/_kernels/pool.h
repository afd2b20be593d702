/* The kernel's helper threads (_core.pyx SharedBlocks.run_pooled, _engine.start_helpers).
 *
 * A call whose blocks its threads share (a counter in C) needs no Python on the threads that
 * help its calling thread, the lead: these wait here, in C, without the GIL, for the next job
 * (spinning 0.2 ms after each, then asleep on a condition variable), run their part of it and
 * wait again. Handing work to Python's thread pool instead (a future, a queue, the GIL taken
 * and given back) took 60-120 us of a 1.1 ms call on a 2-core VM, where waking a waiting
 * thread takes about 0.1 ms; a helper still spinning takes a job at once.
 *
 * One job at a time: a lead takes the pool (xk_pool_post, which fails if another lead holds
 * it: that call then runs as before), posts its job, runs its own part, and gives the pool
 * back (xk_pool_finish) once no helper is inside the job any more, so that the job's memory
 * may go. A helper counts itself in (active) before it reads the job and out after it: the
 * lead clears the job before it waits for that count to be 0, so a helper either sees no job
 * or is waited for (sequentially consistent atomics). Helpers beyond the job's count skip it.
 *
 * POSIX threads only; elsewhere xk_pool_supported is 0 and the calls run as before. */
#ifndef XK_POOL_H
#define XK_POOL_H

#include <stdint.h>

#include "kernels.h"

typedef void (*xk_pool_fn)(void *job);

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <time.h>

/* a helper spins this long after a job before it sleeps (by the clock: a pause instruction
 * takes 3 to 140 cycles depending on the CPU) */
#define XK_POOL_SPIN_NS 200000

static inline int64_t xk_pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t seq;      /* jobs posted */
    void *job;        /* the job posted, NULL once its lead is done with it */
    xk_pool_fn fn;
    int64_t helpers;  /* helpers the job takes: those of index below it */
    int64_t active;   /* helpers between counting themselves in and out */
    int64_t busy;     /* a lead holds the pool */
    int64_t sleeping; /* helpers asleep on cv */
} xk_pool;

static xk_pool xk_the_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, NULL,
                              0, 0, 0, 0};

static inline int xk_pool_supported(void) { return 1; }

/* The body of helper thread `index` (0, 1, ...): it never returns. */
static inline void xk_pool_helper(int64_t index)
{
    xk_pool *p = &xk_the_pool;
    int64_t seen = __atomic_load_n(&p->seq, __ATOMIC_SEQ_CST);
    int took = 0; /* whether it took part in the last job: else it sleeps at once */
    for (;;) {
        const int64_t until = took ? xk_pool_now() + XK_POOL_SPIN_NS : 0;
        int64_t spins = 0, seq;
        while ((seq = __atomic_load_n(&p->seq, __ATOMIC_SEQ_CST)) == seen) {
            if (took && (++spins % 64 != 0 || xk_pool_now() < until)) {
                xk_pause(0);
                continue;
            }
            pthread_mutex_lock(&p->mu);
            __atomic_add_fetch(&p->sleeping, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&p->seq, __ATOMIC_SEQ_CST) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            __atomic_sub_fetch(&p->sleeping, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&p->mu);
        }
        seen = seq;
        __atomic_add_fetch(&p->active, 1, __ATOMIC_SEQ_CST);
        void *job = __atomic_load_n(&p->job, __ATOMIC_SEQ_CST);
        took = job != NULL && index < __atomic_load_n(&p->helpers, __ATOMIC_SEQ_CST);
        if (took) p->fn(job);
        __atomic_sub_fetch(&p->active, 1, __ATOMIC_SEQ_CST);
    }
}

/* Post fn(job) to the first `helpers` helpers; 0 (nothing posted) where another lead holds
 * the pool. */
static inline int xk_pool_post(xk_pool_fn fn, void *job, int64_t helpers)
{
    xk_pool *p = &xk_the_pool;
    int64_t free_ = 0;
    if (!__atomic_compare_exchange_n(&p->busy, &free_, 1, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST))
        return 0;
    p->fn = fn;
    __atomic_store_n(&p->helpers, helpers, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p->job, job, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&p->seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleeping, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return 1;
}

/* The lead is done with its job: no helper reads it after this returns; the pool is free. */
static inline void xk_pool_finish(void)
{
    xk_pool *p = &xk_the_pool;
    __atomic_store_n(&p->job, NULL, __ATOMIC_SEQ_CST);
    for (int64_t spins = 0; __atomic_load_n(&p->active, __ATOMIC_SEQ_CST) > 0; spins++)
        xk_pause(spins);
    __atomic_store_n(&p->busy, 0, __ATOMIC_SEQ_CST);
}

/* In a forked child, which has none of the parent's helpers: a pool as new. */
static inline void xk_pool_reset(void)
{
    xk_pool *p = &xk_the_pool;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->job = NULL;
    p->fn = NULL;
    p->seq = p->helpers = p->active = p->busy = p->sleeping = 0;
}

#else

static inline int xk_pool_supported(void) { return 0; }
static inline void xk_pool_helper(int64_t index) { (void)index; }
static inline int xk_pool_post(xk_pool_fn fn, void *job, int64_t helpers)
{
    (void)fn, (void)job, (void)helpers;
    return 0;
}
static inline void xk_pool_finish(void) {}
static inline void xk_pool_reset(void) {}

#endif
#endif
