/* The baseline variant of the kernels (instance.h): the build's own target flags. On x86-64 it
 * runs only on CPUs without AVX2 (made before 2013, and some low-power ones since): there its
 * passes read their flags at run time (XK_SPECIALIZE, body.h), the same bits in a fraction of
 * the compile time. Elsewhere it is the only variant, specialized as the others are. */
#include "kernels.h"

#ifdef XK_X86
#define XK_SPECIALIZE 0
#endif
#define XK_V _base
#define XK_NAME "baseline"
#include "instance.h"
