/* One SIMD variant (suffix XK_V) of everything: the elementwise math, then the kernels for
 * float and for double. Included by kernels.c inside the variant's target pragma. */
#define XM_SUFFIX XK_V
#include "xmath.h"
#undef XM_SUFFIX

#define xk_exp XK_CAT(xm_exp, XK_V)
#define xk_log XK_CAT(xm_log, XK_V)
#define xk_log1p XK_CAT(xm_log1p, XK_V)

static void XK_CAT(exp_array, XK_V)(const double *x, double *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) y[i] = xk_exp(x[i]);
}
static void XK_CAT(log_array, XK_V)(const double *x, double *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) y[i] = xk_log(x[i]);
}
static void XK_CAT(log1p_array, XK_V)(const double *x, double *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) y[i] = xk_log1p(x[i]);
}

#define T float
#define FN(name) XK_CAT(XK_CAT(name, _f32), XK_V)
#include "body.h"
#undef FN
#undef T

#define T double
#define FN(name) XK_CAT(XK_CAT(name, _f64), XK_V)
#include "body.h"
#undef FN
#undef T

#undef xk_exp
#undef xk_log
#undef xk_log1p
