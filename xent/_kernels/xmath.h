/* placeholder: libm, replaced by the vectorizable implementations */
#define XM_NAME2(a, b) a##b
#define XM_NAME(a, b) XM_NAME2(a, b)
static inline double XM_NAME(xm_exp, XM_SUFFIX)(double x) { return exp(x); }
static inline double XM_NAME(xm_log, XM_SUFFIX)(double x) { return log(x); }
static inline double XM_NAME(xm_log1p, XM_SUFFIX)(double x) { return log1p(x); }
