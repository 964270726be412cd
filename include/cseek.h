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
/* One decode step for several contexts of the same model at once: tokens[i]
 * is appended to ctxs[i] (at its own position) and logits receives n rows of
 * n_vocab floats (row i for ctxs[i]). The weights are read once for all n.
 * The contexts must be distinct and share one model; n <= CS_EVAL_MULTI_MAX
 * (and <= the first context's n_batch). Each context must have room for one
 * more token. Returns 0, or -1 with an error (nothing is changed then). */
#define CS_EVAL_MULTI_MAX 64
int cs_eval_multi(cs_context *const *ctxs, const int32_t *tokens, int n, float *logits);
int cs_context_n_past(const cs_context *c);
int cs_context_n_ctx(const cs_context *c);
int cs_context_n_threads(const cs_context *c);
/* Forget cached tokens from position pos on (0 = clear). */
int cs_context_truncate(cs_context *c, int pos);
/* The n_past tokens now in the cache (in order); returns n_past. */
int cs_context_tokens(const cs_context *c, const int32_t **tokens);
/* How many leading tokens of tokens[0..n) the cache already holds: truncate
 * to that and evaluate only the rest to reuse a cached prefix. */
int cs_context_common_prefix(const cs_context *c, const int32_t *tokens, int n);
/* Bytes of KV cache per token, and in use now. */
size_t cs_context_cache_bytes_per_token(const cs_context *c);
size_t cs_context_cache_bytes_used(const cs_context *c);

/* ---- performance facts (cseek bench, cseek info --system) ------------------- */
/* Bytes of weights one generated token reads: every matrix once, one row of
 * the embedding table, and for mixture-of-experts layers only the share of
 * the routed experts a token uses (n_expert_used / n_expert). */
uint64_t cs_model_weight_bytes_per_token(const cs_model *m);
uint64_t cs_model_size_bytes(const cs_model *m);   /* the file(s) */
uint64_t cs_model_n_params(const cs_model *m);
/* Measure memory read bandwidth in bytes/s with n_threads streaming over a
 * buffer of `bytes` (make it far larger than the last-level cache). 0 on error. */
double cs_measure_read_bandwidth(int n_threads, size_t bytes);
/* The machine as the kernels see it, several "name: value" lines: the
 * instruction set picked at start-up (and whether CSEEK_ISA forced it), the
 * CPU's name, physical cores (the default thread count), logical CPUs and
 * memory. */
void cs_system_describe(FILE *out);

/* ---- synthetic models (cseek mkmodel) ------------------------------------- */
/* The preset names, NULL-terminated: tiny-qwen2, tiny-llama, tiny-v3,
 * tiny-v2-lite, qwen2-1.5b, qwen2-7b, llama-8b, v2-lite, v3. */
const char *const *cs_mkmodel_presets(void);
/* The --set keys, NULL-terminated, one "name  description" line each. */
const char *const *cs_mkmodel_keys(void);

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

/* ---- quantization (cseek quantize) ------------------------------------------
 * Rewrites a GGUF with its matrices in another type, choosing each tensor's
 * type by llama.cpp's quantizer rules (llama-quantize): norms, biases, routers
 * (ffn_gate_inp) and other 1-D tensors keep their type; output.weight (or the
 * tied token_embd) gets Q6_K; Q4_K_M / Q5_K_M give Q6_K to attn_v / attn_kv_b
 * and ffn_down on the "use_more_bits" layers; rows that a k-quant block does
 * not divide fall back (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, else F16).
 * Metadata is copied, general.file_type set to llama.cpp's LLAMA_FTYPE value
 * and general.quantization_version to 2; tensors are written in llama.cpp's
 * order (by layer, then name). Streams: memory is a few chunks of rows, not
 * the model. Sources may be F32, F16, BF16 or any type cseek dequantizes
 * (requantizing works but warns: quality is lost twice). */
typedef struct {
    const char *in_path;  /* any GGUF, the first shard of a split model */
    const char *out_path; /* one file; must not be the input */
    const char *type;     /* a name from cs_quantize_types() (case-insensitive) */
    int n_threads;        /* 0 = physical cores */
    bool pure;            /* no per-tensor rules: every quantizable matrix gets the type (--pure) */
    bool leave_output;    /* keep output.weight as it is (--leave-output-tensor) */
    const char *output_type;     /* non-NULL: this tensor type for output.weight ("q8_0", "f16", ...) */
    const char *token_embd_type; /* non-NULL: this tensor type for token_embd.weight */
    void (*progress)(double fraction, void *user); /* fraction of the input's tensor bytes done */
    void *progress_user;
} cs_quantize_params;

typedef struct {
    uint64_t bytes_in, bytes_out; /* tensor data before and after */
    uint64_t n_elements;          /* weights in all tensors (bits per weight = 8 * bytes / n_elements) */
    int n_tensors;
    int n_converted;   /* tensors whose type changed */
    int n_fallback;    /* tensors that got a fallback type (row length not a multiple of the block) */
    int n_requantized; /* converted tensors whose source was already quantized */
    int ftype;         /* general.file_type written */
} cs_quantize_stats;

void cs_quantize_params_init(cs_quantize_params *p);
/* The type names, NULL-terminated, one "name  description" line each. */
const char *const *cs_quantize_types(void);
/* 0, or -1 with an error "FILE: what is wrong" (nothing is left at out_path).
 * stats may be NULL. */
int cs_quantize_model(const cs_quantize_params *p, cs_quantize_stats *stats);

/* ==== text: tokenizer (issue 3, parts 1-3): src/text/tokenizer.c, pretokenize.c ====
 * Byte-level BPE (tokenizer.ggml.model "gpt2") with the pre-tokenizer named by
 * tokenizer.ggml.pre: deepseek-llm, deepseek-v3, deepseek-coder, qwen2,
 * deepseek-r1-qwen, llama-bpe (llama3, llama-v3), gpt-2, falcon, starcoder;
 * "default" (with a warning) when the key is missing. A vocabulary is
 * read-only once built: several threads may use it at once. */
typedef struct cs_vocab cs_vocab;

/* Token types, as GGUF's tokenizer.ggml.token_type stores them. */
typedef enum {
    CS_TOKEN_INVALID = -1,      /* not a token id of this vocabulary */
    CS_TOKEN_UNDEFINED = 0,
    CS_TOKEN_NORMAL = 1,
    CS_TOKEN_UNKNOWN = 2,
    CS_TOKEN_CONTROL = 3,       /* <｜begin▁of▁sentence｜>, <|im_start|>: matched in text only
                                   when asked (special), not printed unless asked */
    CS_TOKEN_USER_DEFINED = 4,  /* <think>: always matched in text, always printed */
    CS_TOKEN_UNUSED = 5,
    CS_TOKEN_BYTE = 6,
} cs_token_type;

/* Error return of cs_tokenize, cs_token_to_piece and cs_detokenize. */
#define CS_TOKENIZE_ERROR (-2147483647 - 1)

/* Load the vocabulary of a GGUF file (a model, or a vocabulary-only file). */
cs_vocab *cs_vocab_load(const char *path);
void cs_vocab_free(cs_vocab *v);

int cs_vocab_n_tokens(const cs_vocab *v);
/* Special token ids, -1 when the vocabulary has none. */
int32_t cs_vocab_bos(const cs_vocab *v);
int32_t cs_vocab_eos(const cs_vocab *v);
int32_t cs_vocab_eot(const cs_vocab *v);
int32_t cs_vocab_eom(const cs_vocab *v);
int32_t cs_vocab_pad(const cs_vocab *v);
/* tokenizer.ggml.add_bos_token / add_eos_token (false when missing). */
bool cs_vocab_add_bos(const cs_vocab *v);
bool cs_vocab_add_eos(const cs_vocab *v);
/* The pre-tokenizer in use ("default" when the file names none). */
const char *cs_vocab_pre(const cs_vocab *v);
/* True for tokens that end generation: eos, eot, eom, and CONTROL tokens
 * spelled like a known end marker (<|im_end|>, <|eot_id|>, <|endoftext|>,
 * <｜end▁of▁sentence｜>, ...). */
bool cs_vocab_is_eog(const cs_vocab *v, int32_t token);
cs_token_type cs_vocab_token_type(const cs_vocab *v, int32_t token);
/* The token's text as stored (byte-level encoded for NORMAL tokens; not
 * NUL-terminated); NULL for a bad id. */
const char *cs_vocab_token_text(const cs_vocab *v, int32_t token, size_t *len);
/* The id of the token whose stored text is exactly text[0..len), or -1
 * (e.g. cs_vocab_find(v, "<think>", 7)). */
int32_t cs_vocab_find(const cs_vocab *v, const char *text, size_t len);

/* Tokenize len bytes of text (any bytes: invalid UTF-8 is kept byte by byte).
 * add_bos: put the BOS token first, if the vocabulary has one (pass
 * cs_vocab_add_bos(v) for the file's default). special: also match CONTROL
 * tokens spelled out in the text (USER_DEFINED ones are always matched).
 * Returns the number of tokens when it is <= max (all written to out); when
 * more are needed, -(the number needed) with the first max written;
 * CS_TOKENIZE_ERROR on error. */
int cs_tokenize(const cs_vocab *v, const char *text, size_t len, int32_t *out, int max, bool add_bos,
                bool special);

/* The bytes a token stands for (maybe part of a UTF-8 character). CONTROL,
 * UNKNOWN and UNUSED tokens give nothing unless special. Returns the length
 * (no NUL is written), -(length needed) when size is too small, or
 * CS_TOKENIZE_ERROR for a bad id. */
int cs_token_to_piece(const cs_vocab *v, int32_t token, char *buf, int size, bool special);
/* The concatenated pieces of n tokens (raw bytes, no NUL); same returns. */
int cs_detokenize(const cs_vocab *v, const int32_t *tokens, int n, char *buf, int size, bool special);

/* Streaming decoder for generated tokens: each push returns the text that is
 * complete so far, valid UTF-8 only: an incomplete trailing sequence is held
 * back until a later token completes it, invalid bytes become U+FFFD. The
 * text is NUL-terminated and valid until the next call on d. */
typedef struct cs_detok cs_detok;
cs_detok *cs_detok_new(const cs_vocab *v, bool special);
void cs_detok_free(cs_detok *d);
/* NULL (error set) for a bad token id. */
const char *cs_detok_push(cs_detok *d, int32_t token, size_t *len);
/* End of the stream: a dangling partial sequence comes out as one U+FFFD. */
const char *cs_detok_flush(cs_detok *d, size_t *len);
/* Forget anything held back. */
void cs_detok_reset(cs_detok *d);
/* ==== end text: tokenizer ==== */

/* ==== text: sampler, chat formats, reasoning split (issue 3, parts 4-6) ====
 * src/text/sampler.c, src/text/chat.c, src/text/reasoning.c. These work on
 * arrays of logits and on text; they do not need a model or a tokenizer. */

/* ---- sampler ---------------------------------------------------------------
 * One call to cs_sampler_sample() turns a row of logits into a token, in
 * this order (each step is skipped when it is off):
 *   1. penalties over the last repeat_last_n accepted tokens: repetition
 *      (CTRL / llama.cpp: a positive logit is divided by repeat_penalty, a
 *      negative one multiplied), then presence and frequency (OpenAI:
 *      logit -= presence_penalty * (count > 0) + frequency_penalty * count);
 *   2. greedy: temperature <= 0 or top_k == 1 gives the argmax (lowest id
 *      on ties) and draws nothing;
 *   3. top-k: keep the k highest logits;
 *   4. temperature: softmax(logit / temperature) over what is left;
 *   5. top-p: keep the smallest set of most likely tokens whose probability
 *      reaches top_p (always at least one);
 *   6. min-p: drop tokens whose probability is below min_p * the largest;
 *   7. draw one token from what is left, renormalised, with the sampler's
 *      own PRNG (xoshiro256**, seeded through splitmix64): the same seed and
 *      the same logits give the same tokens on every machine.
 * Ties between equal logits are broken by the lower token id everywhere, so
 * the kept sets are well defined. NaN logits count as -infinity. */
#define CS_SAMPLER_SEED_RANDOM UINT64_MAX /* seed from the clock at creation */

typedef struct {
    float temperature;       /* <= 0: greedy (default 0.6, DeepSeek's advice for R1) */
    int32_t top_k;           /* <= 0: off (default 0) */
    float top_p;             /* in [0, 1]; 1: off (default 0.95) */
    float min_p;             /* in [0, 1]; 0: off (default 0) */
    float repeat_penalty;    /* > 0; 1: off (default 1) */
    int32_t repeat_last_n;   /* penalty window: N last accepted tokens; 0: no
                                penalties; -1: every token since the last reset
                                (default 64) */
    float presence_penalty;  /* 0: off (default 0); OpenAI's range is [-2, 2] */
    float frequency_penalty; /* 0: off (default 0) */
    uint64_t seed;           /* default CS_SAMPLER_SEED_RANDOM */
} cs_sampler_params;

typedef struct cs_sampler cs_sampler;

void cs_sampler_params_init(cs_sampler_params *p);
/* NULL with an error for out-of-range parameters or n_vocab <= 0. */
cs_sampler *cs_sampler_new(const cs_sampler_params *p, int n_vocab);
void cs_sampler_free(cs_sampler *s);
/* Pick the next token from n_vocab logits; the logits are not modified. */
int32_t cs_sampler_sample(cs_sampler *s, const float *logits);
/* Record a token in the penalty window (call it for every generated token,
 * and for prompt tokens too if they should be penalised). -1 if out of range. */
int cs_sampler_accept(cs_sampler *s, int32_t token);
/* Forget the penalty history and restart the PRNG from the seed: the same
 * calls after a reset give the same tokens again. */
void cs_sampler_reset(cs_sampler *s);
/* The seed in use (the one drawn from the clock for CS_SAMPLER_SEED_RANDOM). */
uint64_t cs_sampler_seed(const cs_sampler *s);
/* The distribution step 7 would draw from: writes up to cap candidates with
 * their renormalised probabilities, most likely first, and returns how many
 * candidates there are (1 for greedy). Draws nothing. */
int cs_sampler_probs(cs_sampler *s, const float *logits, int32_t *ids, float *probs, int cap);
/* For logprobs / top_logprobs: log-softmax of the raw logits (no penalties,
 * no temperature). top_logprobs writes the n most likely (n capped at
 * n_vocab), most likely first, and returns how many it wrote. */
int cs_sampler_top_logprobs(cs_sampler *s, const float *logits, int n, int32_t *ids, float *logprobs);
float cs_sampler_logprob(cs_sampler *s, const float *logits, int32_t token);

/* ---- chat formats ----------------------------------------------------------
 * A conversation rendered to the exact prompt text the model was trained on.
 * The text begins with the format's BOS text (cs_chat_format_bos); tokenize it
 * with special tokens allowed and without adding another BOS. */
typedef enum {
    CS_CHAT_DEEPSEEK_R1 = 0, /* "deepseek-r1": ...<｜Assistant｜><think>\n */
    CS_CHAT_DEEPSEEK_V3,     /* "deepseek-v3": ...<｜Assistant｜> */
    CS_CHAT_QWEN25,          /* "qwen2.5": ChatML with Qwen's default system prompt */
    CS_CHAT_LLAMA3,          /* "llama3": Llama 3 instruct headers */
    CS_CHAT_N_FORMATS
} cs_chat_format;
/* Used for a missing or unrecognised template. */
#define CS_CHAT_FORMAT_DEFAULT CS_CHAT_DEEPSEEK_V3

typedef enum { CS_ROLE_SYSTEM = 0, CS_ROLE_USER, CS_ROLE_ASSISTANT } cs_chat_role;

typedef struct {
    cs_chat_role role;
    const char *content; /* UTF-8; NULL counts as "" */
} cs_chat_message;

/* From a GGUF's tokenizer.chat_template (Jinja source): "<｜Assistant｜>" with
 * "<think>" or "</think>" -> deepseek-r1, "<｜Assistant｜>" alone -> deepseek-v3,
 * "<|im_start|>" -> qwen2.5, "<|start_header_id|>" -> llama3; NULL or
 * anything else -> CS_CHAT_FORMAT_DEFAULT. */
cs_chat_format cs_chat_format_detect(const char *jinja_template);
/* Whether cs_chat_format_detect recognised the template (false: default). */
bool cs_chat_template_recognized(const char *jinja_template);
/* By name (--chat-format): -1 and an error listing the names if unknown. */
int cs_chat_format_from_name(const char *name, cs_chat_format *out);
const char *cs_chat_format_name(cs_chat_format f);     /* "deepseek-r1", ... */
const char *const *cs_chat_format_names(void);         /* NULL-terminated */
const char *cs_chat_format_bos(cs_chat_format f);      /* "" when none */
const char *cs_chat_format_end_of_turn(cs_chat_format f); /* text ending an assistant turn */
/* True when the generation prompt ends with "<think>\n": start the
 * reasoning parser in reasoning mode. */
bool cs_chat_format_prefills_think(cs_chat_format f);
/* "system", "user", "assistant" ("developer" counts as system); -1 if unknown. */
int cs_chat_role_from_name(const char *name, cs_chat_role *out);
/* The prompt for msgs[0..n), ending with the generation prompt when
 * add_generation_prompt. Returns a malloc'd NUL-terminated string (free()),
 * NULL with an error on failure. */
char *cs_chat_render(cs_chat_format f, const cs_chat_message *msgs, int n, bool add_generation_prompt);

/* ---- reasoning split -------------------------------------------------------
 * Routes generated text to a reasoning stream and an answer stream, fed any
 * chunking of the decoded output (even one byte at a time). In reasoning mode
 * from the start when the prompt pre-filled "<think>" (think_prefilled), else
 * when the output starts with "<think>" (after optional whitespace); a
 * "</think>" switches to the answer. Tags are never emitted, nor fragments of
 * them: a possible partial tag is held until resolved. Presentation as
 * DeepSeek's API / llama.cpp's server give reasoning_content and content:
 * reasoning without its leading and trailing whitespace, the answer without
 * the whitespace after "</think>". Emitted chunks never end inside a UTF-8
 * sequence (an incomplete one waits for the next feed, or for finish). */
typedef enum { CS_REASONING = 0, CS_ANSWER = 1 } cs_text_kind;
typedef void (*cs_reasoning_emit_fn)(cs_text_kind kind, const char *text, size_t len, void *user);
typedef struct cs_reasoning cs_reasoning;

cs_reasoning *cs_reasoning_new(bool think_prefilled);
void cs_reasoning_free(cs_reasoning *p);
/* Start over for a new output. */
void cs_reasoning_reset(cs_reasoning *p, bool think_prefilled);
/* 0, or -1 when out of memory. emit may be called any number of times. */
int cs_reasoning_feed(cs_reasoning *p, const char *text, size_t len, cs_reasoning_emit_fn emit, void *user);
/* End of output: releases held text that turned out not to be a tag.
 * Reset before feeding another output. */
int cs_reasoning_finish(cs_reasoning *p, cs_reasoning_emit_fn emit, void *user);
/* Now in reasoning mode (e.g. for a "thinking..." indicator). */
bool cs_reasoning_in_reasoning(const cs_reasoning *p);
/* After finish: reasoning was opened and never closed (everything went to
 * the reasoning stream, e.g. generation hit its token limit). */
bool cs_reasoning_unterminated(const cs_reasoning *p);
/* A "</think>" came without reasoning mode (no prefill, no "<think>"): it
 * was dropped, and the text before it had already gone to the answer. */
bool cs_reasoning_stray_close(const cs_reasoning *p);
/* ==== end text: sampler, chat formats, reasoning split ==== */

/* ==== generation: src/text/generate.c (issue 3, part 7) ====================
 * A generator turns rows of logits into text for one output: it samples a
 * token, decodes it (never splitting a UTF-8 character), holds back text that
 * may be the start of a stop string, and routes the rest through the
 * reasoning split. It does not run the model, so a caller can batch the
 * forward passes of several generators (the server) or use cs_generate()
 * for the whole loop over one context. */

/* The model's vocabulary (built from its GGUF metadata); cs_vocab_free() it. */
cs_vocab *cs_vocab_from_model(const cs_model *m);
/* A string metadata value of the model (e.g. "tokenizer.chat_template",
 * "general.name"), malloc'd, or NULL when absent or not a string. */
char *cs_model_meta_str(const cs_model *m, const char *key);

typedef enum {
    CS_GEN_RUNNING = 0,  /* not finished */
    CS_GEN_STOP,         /* an end-of-generation token or a stop string */
    CS_GEN_LENGTH,       /* max_tokens reached or the context is full */
    CS_GEN_CANCELLED,    /* *cancel became non-zero */
    CS_GEN_ERROR         /* see cs_last_error() */
} cs_gen_status;

typedef struct {
    cs_sampler_params sampling;
    int max_tokens;               /* <= 0: until the context is full (default 0) */
    const char *const *stop;      /* user stop strings: generation ends before them */
    int n_stop;
    bool think_prefilled;         /* the prompt ended with "<think>\n" (deepseek-r1) */
    bool split_reasoning;         /* false: all text is CS_ANSWER, tags included (default true) */
    bool special;                 /* print control tokens (default false) */
    const volatile int *cancel;   /* optional: generation stops once *cancel != 0 */
} cs_gen_params;

/* Called with each piece of text as it becomes final. */
typedef void (*cs_gen_emit_fn)(cs_text_kind kind, const char *text, size_t len, void *user);

typedef struct cs_generator cs_generator;

void cs_gen_params_init(cs_gen_params *p);
/* n_vocab: the length of the logits rows (the model's, which may exceed the
 * vocabulary's token count). The stop strings are copied. NULL with an error
 * on bad parameters. */
cs_generator *cs_generator_new(const cs_vocab *v, int n_vocab, const cs_gen_params *p);
void cs_generator_free(cs_generator *g);
/* Start a new output with the same parameters (the sampler keeps its PRNG state). */
void cs_generator_reset(cs_generator *g);
/* Sample the next token from a row of logits (n_vocab floats), decode it and
 * emit what is final. Returns the token to evaluate next, or -1 once the
 * generation has ended (then cs_generator_status says why and all text has
 * been emitted). An end-of-generation token is not emitted and not returned. */
int32_t cs_generator_step(cs_generator *g, const float *logits, cs_gen_emit_fn emit, void *user);
/* End the output now (e.g. the context is full): flush held text. */
void cs_generator_finish(cs_generator *g, cs_gen_status why, cs_gen_emit_fn emit, void *user);
cs_gen_status cs_generator_status(const cs_generator *g);
/* "stop", "length", "cancelled", "error", or "running" */
const char *cs_gen_status_name(cs_gen_status s);
int cs_generator_n_tokens(const cs_generator *g);           /* tokens sampled (the eog one included) */
int cs_generator_n_reasoning_tokens(const cs_generator *g); /* of those, inside the reasoning */
int32_t cs_generator_last_token(const cs_generator *g);     /* -1 before the first step */
cs_sampler *cs_generator_sampler(cs_generator *g);          /* e.g. for logprobs */

typedef struct {
    int n_prompt;         /* prompt tokens */
    int n_prompt_cached;  /* of those, reused from the context's cache */
    int n_gen;            /* generated tokens */
    int n_reasoning;      /* of those, reasoning */
    double t_prompt_s;    /* evaluating the uncached prompt tokens */
    double t_gen_s;       /* generating */
    cs_gen_status status;
} cs_gen_stats;

/* The whole loop on one context: reuses the cached prefix the context shares
 * with prompt, evaluates the rest, then generates until the generator ends.
 * The context keeps the prompt and generated tokens (for the next turn).
 * Returns 0, or -1 with an error (prompt longer than the context, ...). */
int cs_generate(cs_context *c, cs_generator *g, const int32_t *prompt, int n_prompt, cs_gen_emit_fn emit, void *user,
                cs_gen_stats *stats);
/* ==== end generation ==== */

#ifdef __cplusplus
}
#endif
#endif
