/* text/tokenizer: byte-level BPE (the GPT-2 family: DeepSeek LLM/Coder/V3,
 * Qwen2, Llama 3) built from a GGUF file's tokenizer.ggml.* metadata.
 *
 * Encoding a text:
 *   1. special tokens are cut out of the raw text first: USER_DEFINED tokens
 *      (type 4, e.g. <think>) always, CONTROL tokens (type 3) only when the
 *      caller allows it; leftmost match wins, the longest of those starting
 *      there (Hugging Face's added-vocabulary rule);
 *   2. each stretch of ordinary text goes through the pre-tokenizer named by
 *      tokenizer.ggml.pre: an optional normalizer (NFC for Qwen2) and a
 *      sequence of regex splits (PCRE2, UTF + JIT) with the GPT-2 byte-to-
 *      unicode mapping at the point where tokenizer.json puts ByteLevel;
 *   3. every pre-token is BPE-merged: its bytes start as one symbol each and
 *      the adjacent pair with the lowest merge rank is merged until none is
 *      left (a heap of candidate pairs, stale entries skipped on pop).
 * Invalid UTF-8 in the input is kept: each invalid byte becomes its own
 * pre-token, so any byte string tokenizes and decodes back unchanged.
 *
 * Decoding: NORMAL tokens map their text back through unicode-to-byte;
 * USER_DEFINED tokens print their text as is; CONTROL, UNKNOWN and UNUSED
 * tokens print only when asked (special). */
#ifndef CS_TEXT_TOKENIZER_H
#define CS_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cseek.h"
#include "../formats/gguf.h"

/* GGUF token types (tokenizer.ggml.token_type), as llama.cpp writes them. */
enum {
    CS_TT_UNDEFINED = 0,
    CS_TT_NORMAL = 1,
    CS_TT_UNKNOWN = 2,
    CS_TT_CONTROL = 3,
    CS_TT_USER_DEFINED = 4,
    CS_TT_UNUSED = 5,
    CS_TT_BYTE = 6,
};

/* Everything a vocabulary is built from; what cs_vocab_from_gguf() reads out
 * of the file, and what tests fill in by hand. Strings need not be
 * NUL-terminated when their lengths are given; all are copied. */
typedef struct {
    const char *model;           /* tokenizer.ggml.model; NULL is taken as "gpt2" */
    const char *pre;             /* tokenizer.ggml.pre; NULL = missing: "default" + warning */
    int32_t n_tokens;
    const char *const *tokens;   /* (n_tokens) token texts as stored in the file */
    const size_t *token_lens;    /* (n_tokens) or NULL: strlen */
    const int32_t *types;        /* (n_tokens) CS_TT_*, or NULL: all NORMAL */
    int32_t n_merges;
    const char *const *merges;   /* (n_merges) "left right", rank = index */
    const size_t *merge_lens;    /* (n_merges) or NULL: strlen */
    int32_t bos, eos, eot, eom, pad, unk; /* -1 = none */
    bool add_bos, add_eos;
} cs_vocab_spec;

void cs_vocab_spec_init(cs_vocab_spec *s); /* zeros, ids -1 */

/* Build a vocabulary. NULL with cs_last_error() set on bad input (unknown
 * model or pre-tokenizer name, ids out of range, out of memory). */
cs_vocab *cs_vocab_build(const cs_vocab_spec *s);

/* Read the tokenizer.ggml.* keys of an open GGUF file (which may hold only a
 * vocabulary). The vocabulary copies what it needs: the file may be closed
 * afterwards. */
cs_vocab *cs_vocab_from_gguf(const gguf_file *f);

/* ---- pre-tokenizer (pretokenize.c) ----------------------------------------- */
typedef struct cs_pretok cs_pretok;

/* name: a tokenizer.ggml.pre value (NULL: "default"). NULL + error when the
 * name is unknown or a regex fails to compile. */
cs_pretok *cs_pretok_new(const char *name);
void cs_pretok_free(cs_pretok *p);
const char *cs_pretok_name(const cs_pretok *p);
/* Llama 3: a pre-token that is itself a vocabulary entry is emitted whole. */
bool cs_pretok_ignore_merges(const cs_pretok *p);

/* Per-call scratch memory (the pre-tokenizer itself is read-only, so one
 * cs_pretok may serve several threads, each with its own work area). */
typedef struct cs_pretok_work cs_pretok_work;
cs_pretok_work *cs_pretok_work_new(const cs_pretok *p);
void cs_pretok_work_free(cs_pretok_work *w);

/* Split valid UTF-8 text into pre-tokens and call emit() with the original
 * bytes of each, in order (never empty). A non-zero return from emit stops
 * the split and is returned; -1 with an error when matching fails. */
typedef int (*cs_pretok_emit)(const uint8_t *bytes, size_t n, void *user);
int cs_pretok_split(const cs_pretok *p, cs_pretok_work *w, const char *text, size_t len,
                    cs_pretok_emit emit, void *user);

/* The GPT-2 byte <-> unicode mapping: byte b is shown as code point
 * cs_byte_to_cp(b) (printable Latin-1 bytes as themselves, the rest moved to
 * U+0100..U+0143). cs_cp_to_byte() is the inverse, -1 for other code points. */
uint32_t cs_byte_to_cp(uint8_t b);
int cs_cp_to_byte(uint32_t cp);
/* Write the mapped text of n bytes to out (room for 2n); returns its length. */
size_t cs_bytes_to_mapped(const uint8_t *b, size_t n, char *out);

/* UTF-8 helpers shared by the tokenizer files.
 * cs_utf8_check: look at the sequence starting at s (n > 0 bytes available).
 *   returns  1: a valid character of *len bytes;
 *            0: a valid but incomplete prefix (more bytes needed);
 *           -1: invalid; *len is the length of the maximal invalid subpart
 *               (to be replaced by one U+FFFD). */
int cs_utf8_check(const uint8_t *s, size_t n, size_t *len);
/* Encode cp (<= 0x10FFFF) into out (4 bytes room); returns its length. */
size_t cs_utf8_encode(uint32_t cp, char *out);

#endif
