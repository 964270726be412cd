/* PLACEHOLDER until the deepseek2 forward pass lands: loading fails cleanly. */
#include "../base/base.h"
#include "model.h"

static int ds2_load(cs_model *m) {
    (void)m;
    cs_set_error("architecture deepseek2 is not implemented yet");
    return -1;
}
static size_t ds2_cache_bytes(const cs_model *m, cs_cache_type t) { (void)m; (void)t; return 0; }
static int ds2_ctx_init(cs_context *c) { (void)c; return -1; }
static void ds2_ctx_free(cs_context *c) { (void)c; }
static int ds2_forward(cs_context *c, const int32_t *tokens, int n, float *logits, bool all) {
    (void)c; (void)tokens; (void)n; (void)logits; (void)all;
    return -1;
}
const cs_arch_ops cs_deepseek2_ops = {ds2_load, CS_CACHE_F16, ds2_cache_bytes, ds2_ctx_init, ds2_ctx_free, ds2_forward, NULL};
