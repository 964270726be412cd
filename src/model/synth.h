/* Internal to synth.c / synth_vocab.c: the synthetic byte-level BPE
 * vocabulary that `cseek mkmodel` writes.
 *
 * Layout of the ids:
 *   [0, 256)               the 256 byte tokens, byte b's GPT-2 character ("Ā" for 0x00, "Ġ" for ' ')
 *   [256, 256 + n_merged)  tokens made by the merges (BPE trained on a built-in English text)
 *   then 7 special tokens  <｜begin▁of▁sentence｜> (bos) <｜end▁of▁sentence｜> (eos)
 *                          <｜User｜> <｜Assistant｜> <｜▁pad▁｜>  (CONTROL)
 *                          <think> </think>                        (USER_DEFINED)
 *   then "[PAD<id>]"       UNUSED entries up to n_vocab
 *   then anything appended with cs_synth_vocab_push() (scripted models' step tokens). */
#ifndef CS_MODEL_SYNTH_H
#define CS_MODEL_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/* llama.cpp's token types */
enum { CS_TOK_NORMAL = 1, CS_TOK_UNKNOWN = 2, CS_TOK_CONTROL = 3, CS_TOK_USER_DEFINED = 4, CS_TOK_UNUSED = 5, CS_TOK_BYTE = 6 };

#define CS_SYNTH_N_SPECIAL 7
#define CS_SYNTH_MIN_VOCAB (256 + CS_SYNTH_N_SPECIAL)

typedef struct {
    char **tokens;   /* n_tokens UTF-8 strings (byte-level alphabet) */
    int32_t *types;  /* n_tokens token types */
    int n_tokens, cap;
    char **merges;   /* "left right", best first */
    int n_merges;
    int bos, eos, pad, user, assistant, think, end_think;
} cs_synth_vocab;

/* Build the vocabulary with exactly n_vocab entries (>= CS_SYNTH_MIN_VOCAB),
 * or, with n_vocab == 0, with no padding. max_merges bounds the merges.
 * Deterministic. 0 or -1 with cs_last_error(). */
int cs_synth_vocab_build(cs_synth_vocab *v, int n_vocab, int max_merges);
/* Append a token (string copied); returns its id or -1. */
int cs_synth_vocab_push(cs_synth_vocab *v, const char *text, int32_t type);
void cs_synth_vocab_free(cs_synth_vocab *v);

/* Encode raw bytes in the GPT-2 byte-level alphabet (malloc'd, NUL-terminated). */
char *cs_synth_bytes_to_token(const char *bytes, size_t n);

/* DeepSeek-R1's Jinja chat template. */
extern const char cs_synth_chat_template[];

#endif
