/* cseek: DeepSeek models on the CPU. The one public C API.
 *
 * Conventions: functions that can fail return NULL or a negative value and
 * leave a one-line message in cs_last_error(); the library never exits or
 * aborts on bad input. Every public name starts with cs_. */
#ifndef CSEEK_H
#define CSEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CSEEK_VERSION "0.1.0"

/* The last error of this thread, one line, no trailing newline. */
const char *cs_last_error(void);
/* 0 quiet, 1 warnings (default), 2 info */
void cs_set_log_level(int level);

/* ---- models ---------------------------------------------------------------- */
typedef struct cs_model cs_model;

typedef struct {
    bool no_mmap; /* read the weights into memory instead of mapping the file */
    bool mlock;   /* lock the weights in RAM */
    /* called with the fraction loaded, for a progress bar on long loads */
    void (*progress)(double fraction, void *user);
    void *progress_user;
} cs_load_params;

void cs_load_params_init(cs_load_params *p);
/* Load and validate a GGUF model (the first shard of a split model). */
cs_model *cs_model_load(const char *path, const cs_load_params *p);
void cs_model_free(cs_model *m);

const char *cs_model_arch(const cs_model *m);  /* "llama", "qwen2", "deepseek2" */
int cs_model_n_vocab(const cs_model *m);
int cs_model_n_ctx_train(const cs_model *m);
/* Human-readable description for `cseek info`: hyper-parameters, tensor
 * types with counts and bytes, file size, vocabulary, KV bytes per token. */
void cs_model_print_info(const cs_model *m, FILE *out);

/* ---- inference contexts ---------------------------------------------------- */
typedef enum {
    CS_CACHE_F32 = 0,
    CS_CACHE_F16 = 1,
    CS_CACHE_Q8_0 = 2,
} cs_cache_type;

typedef struct {
    int n_ctx;        /* tokens of KV cache; 0 = the trained length (default 4096) */
    int n_threads;    /* 0 = physical cores */
    int n_batch;      /* most tokens per forward pass (default 512) */
    cs_cache_type cache_type; /* default F32 for dense models, F16 for deepseek2's latent cache */
    bool cache_type_set;      /* false: use the architecture's default */
} cs_context_params;

typedef struct cs_context cs_context;

void cs_context_params_init(cs_context_params *p);
/* Fails (NULL) with a one-line error when weights + cache cannot fit in RAM. */
cs_context *cs_context_new(cs_model *m, const cs_context_params *p);
void cs_context_free(cs_context *c);

/* Feed n tokens after those already in the cache. logits receives n_vocab
 * floats for the last token, or n * n_vocab (one row per token) when
 * all_logits; logits may be NULL. Going past n_ctx is an error (-1). */
int cs_eval(cs_context *c, const int32_t *tokens, int n, float *logits, bool all_logits);
int cs_context_n_past(const cs_context *c);
int cs_context_n_ctx(const cs_context *c);
/* Forget cached tokens from position pos on (0 = clear). */
int cs_context_truncate(cs_context *c, int pos);
/* Bytes of KV cache per token, and in use now. */
size_t cs_context_cache_bytes_per_token(const cs_context *c);
size_t cs_context_cache_bytes_used(const cs_context *c);

/* ---- synthetic models (cseek mkmodel) ------------------------------------- */
/* The preset names, NULL-terminated: tiny-qwen2, tiny-llama, tiny-v3,
 * tiny-v2-lite, qwen2-1.5b, qwen2-7b, llama-8b, v2-lite, v3. */
const char *const *cs_mkmodel_presets(void);

typedef struct {
    const char *preset;     /* required */
    const char *const *set; /* "key=value" overrides, NULL-terminated (may be NULL) */
    const char *type;       /* weight type: f32 f16 bf16 q8_0 q4_0 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m */
    const char *layout;     /* deepseek2 MLA layout: "a", "b" or "c" (NULL = "a") */
    const char *script;     /* non-NULL: a scripted model that emits this text */
    uint64_t seed;
    const char *out_path;
    /* progress while writing: fraction done */
    void (*progress)(double fraction, void *user);
    void *progress_user;
} cs_mkmodel_params;

int cs_mkmodel(const cs_mkmodel_params *p);

#ifdef __cplusplus
}
#endif
#endif
