/* GGUF files (v2 and v3): a validated reader over mmap (or a private copy with
 * --no-mmap), split files loaded from their first shard, and a streaming writer.
 *
 * Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 * then n_kv key/value pairs (string key, u32 value type, value), then n_tensors
 * tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset),
 * padding to general.alignment (default 32), then tensor data; each offset is
 * relative to the start of the data section and a multiple of the alignment.
 * Strings are u64 length + bytes (no NUL). */
#ifndef CS_FORMATS_GGUF_H
#define CS_FORMATS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "types.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
} gguf_type;

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_ARRAY_DEPTH 8 /* arrays of arrays nest at most this deep */

/* A string inside the file: not NUL-terminated. */
typedef struct {
    uint64_t len;
    const char *ptr;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    gguf_type type;
    union {
        uint64_t u;  /* UINT8..UINT64, BOOL (0/1) */
        int64_t i;   /* INT8..INT64 */
        double f;    /* FLOAT32, FLOAT64 */
        gguf_str s;  /* STRING */
        struct {
            gguf_type type; /* element type */
            uint64_t n;     /* element count */
            /* scalars: raw little-endian elements in the file (maybe unaligned:
             * read them with gguf_arr_* below); */
            const void *data;
            /* strings: n entries; nested arrays: n values. NULL otherwise. */
            gguf_str *strs;
            gguf_value *items;
        } arr;
    };
};

typedef struct {
    gguf_str key;
    gguf_value value;
} gguf_kv;

typedef struct {
    char *name;                 /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];  /* ne[0] = row length; unused dims are 1 */
    cs_type type;
    uint64_t offset;            /* within its shard's data section */
    uint64_t nbytes;
    uint32_t shard;             /* which file of a split model */
    const void *data;           /* points into the mapping (or the loaded copy) */
} gguf_tensor;

typedef struct {
    bool no_mmap; /* read into memory instead of mapping */
    bool mlock;   /* lock the pages in RAM (warn if it fails) */
    /* optional progress callback for long loads: fraction in [0,1] */
    void (*progress)(double fraction, void *user);
    void *progress_user;
} gguf_open_opts;

typedef struct gguf_file gguf_file;

/* Open and validate a GGUF file (and, for "NAME-00001-of-000NN.gguf" with
 * split.count > 1, its sibling shards). On failure returns NULL with
 * cs_last_error() set to "what is wrong" (the caller prefixes the path). */
gguf_file *gguf_open(const char *path, const gguf_open_opts *opts);
/* The same over n bytes in memory (copied; single file only: a split model's
 * first shard is rejected). For tests and tools; opts may be NULL. */
gguf_file *gguf_open_memory(const void *buf, size_t n, const gguf_open_opts *opts);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);     /* all shards together */
uint32_t gguf_alignment(const gguf_file *f);
uint32_t gguf_n_shards(const gguf_file *f);

/* Metadata. Keys are looked up across all shards' first file only (the
 * metadata of a split model lives in shard 1). */
uint64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
const gguf_value *gguf_get(const gguf_file *f, const char *key);

/* Typed getters: return false if the key is missing or not convertible
 * (any integer type converts to an integer if it fits; floats to floats). */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
/* Returns a malloc'd NUL-terminated copy, or NULL (missing or not a string). */
char *gguf_get_str_dup(const gguf_file *f, const char *key);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* Array accessors: element i converted; false if out of range or wrong type. */
bool gguf_arr_i64(const gguf_value *arr, uint64_t i, int64_t *out);
bool gguf_arr_f64(const gguf_value *arr, uint64_t i, double *out);

/* Tensors, in file order (shards concatenated). */
uint64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

const char *gguf_type_name(gguf_type t); /* "uint32", "string", "array" ... */
size_t gguf_type_size(gguf_type t);      /* bytes of a scalar; 0 for string, array, unknown */

/* ---- writer --------------------------------------------------------------
 * Streaming: declare all metadata and tensor infos, then gguf_writer_begin()
 * writes the header, then each tensor's bytes are written in declaration order
 * with gguf_writer_write_data() (one or several calls per tensor; padding is
 * inserted automatically), then gguf_writer_finish(). Nothing large is held in
 * memory, so multi-GB models stream straight to disk. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Arrays of scalars: elem_type is a scalar gguf_type, data holds n elements
 * in that type's native little-endian size. */
void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t n);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Any value (every scalar type, strings, arrays incl. nested ones), deep-copied:
 * e.g. a gguf_kv of a file being converted. Setting a key again replaces it. */
void gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v);

/* ne[0] is the row length. Returns 0, or -1 with an error (bad shape for the type). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, cs_type type, uint32_t n_dims, const int64_t *ne);

/* Open path and write header + metadata + tensor infos. 0 or -1 with error. */
int gguf_writer_begin(gguf_writer *w, const char *path);
/* Append bytes of the current tensor; moves on to the next tensor when the
 * current one is complete. */
int gguf_writer_write_data(gguf_writer *w, const void *data, size_t n);
/* Check every tensor was written in full, flush and close. */
int gguf_writer_finish(gguf_writer *w);

#endif
