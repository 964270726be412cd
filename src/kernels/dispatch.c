/* The dot product chosen for this CPU. For now always the scalar reference;
 * the ISA variants (AVX2, AVX-512, NEON) will be picked here once at start-up. */
#include "kernels.h"

cs_vec_dot_fn cs_vec_dot(cs_type wtype) { return cs_vec_dot_ref(wtype); }
