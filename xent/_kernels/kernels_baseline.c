/* The baseline variant of the kernels (instance.h): the build's own target flags. */
#define XK_V _base
#define XK_NAME "baseline"
#include "instance.h"
