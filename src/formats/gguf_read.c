/* GGUF reader: map (or read) the file, then validate every byte of the header
 * before anything is used. Nothing is allocated from a count that has not
 * been checked against the bytes left in the file, and arrays grow as their
 * elements are actually parsed, so hostile input costs at most a few times
 * its own size in memory.
 *
 * Strings and scalar arrays point into the mapping; arrays of strings and of
 * arrays get small side tables (gguf_str / gguf_value), freed by gguf_close.
 * A split model (NAME-00001-of-000NN.gguf) is one gguf_shard per file; the
 * tensors of all shards are concatenated into one table, the metadata is the
 * first shard's. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/base.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

#define READ_CHUNK ((size_t)8 << 20) /* --no-mmap reads (and progress reports) per chunk */
#define MAX_SHARDS 99999u             /* five digits in the shard file names */

/* Smallest encodings, used to bound counts by the bytes left. */
#define MIN_KV_BYTES 13     /* key length u64 + value type u32 + a one-byte value */
#define MIN_TENSOR_BYTES 32 /* name length u64 + n_dims u32 + one ne u64 + type u32 + offset u64 */
#define MIN_STR_BYTES 8     /* length u64 */
#define MIN_ARR_BYTES 12    /* element type u32 + count u64 */

typedef struct {
    uint8_t *base; /* the mapping or the private copy */
    uint64_t size;
    bool mapped;
    bool locked;
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t *kv_slots; /* open addressing: index + 1, 0 = empty */
    uint64_t kv_mask;
    uint64_t n_tensors;
    gguf_tensor *tensors; /* owned here until merged into the file's table */
    uint64_t data_off;    /* start of the data section */
} gguf_shard;

struct gguf_file {
    uint32_t n_shards;
    gguf_shard *shards;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t *t_slots;
    uint64_t t_mask;
};

/* ---- small helpers ------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} type_tab[] = {
    [GGUF_TYPE_UINT8] = {"uint8", 1},     [GGUF_TYPE_INT8] = {"int8", 1},
    [GGUF_TYPE_UINT16] = {"uint16", 2},   [GGUF_TYPE_INT16] = {"int16", 2},
    [GGUF_TYPE_UINT32] = {"uint32", 4},   [GGUF_TYPE_INT32] = {"int32", 4},
    [GGUF_TYPE_FLOAT32] = {"float32", 4}, [GGUF_TYPE_BOOL] = {"bool", 1},
    [GGUF_TYPE_STRING] = {"string", 0},   [GGUF_TYPE_ARRAY] = {"array", 0},
    [GGUF_TYPE_UINT64] = {"uint64", 8},   [GGUF_TYPE_INT64] = {"int64", 8},
    [GGUF_TYPE_FLOAT64] = {"float64", 8},
};

const char *gguf_type_name(gguf_type t) {
    return (unsigned)t < CS_ARRAY_LEN(type_tab) ? type_tab[t].name : "?";
}

size_t gguf_type_size(gguf_type t) {
    return (unsigned)t < CS_ARRAY_LEN(type_tab) ? type_tab[t].size : 0;
}

static bool type_known(uint32_t t) { return t < CS_ARRAY_LEN(type_tab); }

static bool type_is_int(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
        return true;
    default:
        return false;
    }
}

static bool type_is_signed(gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

/* Printable, bounded form of a string from the file for error messages (one
 * line, whatever the bytes are). */
static const char *show(char *buf, size_t cap, const char *p, uint64_t len) {
    size_t o = 0;
    for (uint64_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            buf[o++] = (char)c;
        } else {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        }
        if (i + 1 < len && o + 8 >= cap) {
            memcpy(buf + o, "...", 4);
            return buf;
        }
    }
    buf[o] = 0;
    return buf;
}

static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* Slot table with at least twice as many slots as entries. */
static uint64_t *slots_new(uint64_t n, uint64_t *mask) {
    uint64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    *mask = cap - 1;
    return cs_calloc((size_t)cap, sizeof(uint64_t));
}

/* Grow a zero-filled table to hold `need` entries; false on allocation failure. */
static bool grow(void **p, uint64_t *cap, uint64_t need, size_t elem) {
    if (need <= *cap) return true;
    uint64_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    uint64_t bytes;
    if (!cs_mul_ok(nc, elem, &bytes) || bytes > SIZE_MAX) {
        cs_set_error("out of memory: table of %llu entries", (unsigned long long)nc);
        return false;
    }
    void *q = realloc(*p, (size_t)bytes);
    if (!q) {
        cs_set_error("out of memory allocating %llu bytes", (unsigned long long)bytes);
        return false;
    }
    memset((char *)q + *cap * elem, 0, (size_t)((nc - *cap) * elem));
    *p = q;
    *cap = nc;
    return true;
}

/* ---- the cursor ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    uint64_t size, pos;
    char where[160]; /* what is being read, for error messages */
} rd;

static bool truncated(rd *r, uint64_t need) {
    cs_set_error("file truncated or corrupt: %s needs %llu bytes at byte %llu but the file has %llu",
                 r->where, (unsigned long long)need, (unsigned long long)r->pos,
                 (unsigned long long)r->size);
    return false;
}

static bool take(rd *r, uint64_t n, const uint8_t **out) {
    if (n > r->size - r->pos) return truncated(r, n);
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

static bool rd_raw(rd *r, void *dst, size_t n) {
    const uint8_t *q;
    if (!take(r, n, &q)) return false;
    memcpy(dst, q, n);
    return true;
}

static bool rd_u32(rd *r, uint32_t *v) { return rd_raw(r, v, 4); }
static bool rd_u64(rd *r, uint64_t *v) { return rd_raw(r, v, 8); }

static bool rd_str(rd *r, gguf_str *s) {
    uint64_t len;
    const uint8_t *q;
    if (!rd_u64(r, &len)) return false;
    if (len > r->size - r->pos) {
        cs_set_error("file truncated or corrupt: %s: string of %llu bytes at byte %llu runs past the end "
                     "of the file (%llu bytes)",
                     r->where, (unsigned long long)len, (unsigned long long)r->pos,
                     (unsigned long long)r->size);
        return false;
    }
    take(r, len, &q);
    s->len = len;
    s->ptr = (const char *)q;
    return true;
}

static uint64_t left(const rd *r) { return r->size - r->pos; }

/* ---- values -------------------------------------------------------------- */

static void value_free(gguf_value *v) {
    if (v->type != GGUF_TYPE_ARRAY) return;
    free(v->arr.strs);
    if (v->arr.items) {
        for (uint64_t i = 0; i < v->arr.n; i++) value_free(&v->arr.items[i]);
        free(v->arr.items);
    }
    v->arr.strs = NULL;
    v->arr.items = NULL;
}

/* Body of an array (element type, count, elements) into v (zeroed, type ARRAY).
 * While parsing, v->arr.n counts the side-table entries that are initialised,
 * so value_free is safe at any point. */
static bool parse_array(rd *r, gguf_value *v, int depth) {
    uint32_t et;
    uint64_t n;
    if (!rd_u32(r, &et) || !rd_u64(r, &n)) return false;
    if (!type_known(et)) {
        cs_set_error("%s: unknown array element type %u", r->where, et);
        return false;
    }
    v->arr.type = (gguf_type)et;
    size_t es = gguf_type_size((gguf_type)et);
    if (es) {
        uint64_t bytes;
        const uint8_t *q;
        if (!cs_mul_ok(n, es, &bytes) || bytes > left(r)) {
            cs_set_error("file truncated or corrupt: %s: array of %llu %s elements at byte %llu is longer "
                         "than the rest of the file (%llu bytes)",
                         r->where, (unsigned long long)n, gguf_type_name((gguf_type)et),
                         (unsigned long long)r->pos, (unsigned long long)left(r));
            return false;
        }
        take(r, bytes, &q);
        v->arr.data = q;
        v->arr.n = n;
        return true;
    }
    uint64_t min = et == GGUF_TYPE_STRING ? MIN_STR_BYTES : MIN_ARR_BYTES;
    if (n > left(r) / min) {
        cs_set_error("file truncated or corrupt: %s: array of %llu %ss at byte %llu cannot fit in the rest "
                     "of the file (%llu bytes)",
                     r->where, (unsigned long long)n, gguf_type_name((gguf_type)et),
                     (unsigned long long)r->pos, (unsigned long long)left(r));
        return false;
    }
    uint64_t cap = 0;
    if (et == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < n; i++) {
            if (!grow((void **)&v->arr.strs, &cap, i + 1, sizeof(gguf_str))) return false;
            if (!rd_str(r, &v->arr.strs[i])) return false;
            v->arr.n = i + 1;
        }
        return true;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH) {
        cs_set_error("%s: arrays nested more than %d deep", r->where, GGUF_MAX_ARRAY_DEPTH);
        return false;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (!grow((void **)&v->arr.items, &cap, i + 1, sizeof(gguf_value))) return false;
        gguf_value *it = &v->arr.items[i];
        it->type = GGUF_TYPE_ARRAY;
        v->arr.n = i + 1;
        if (!parse_array(r, it, depth + 1)) return false;
    }
    return true;
}

static bool parse_value(rd *r, gguf_type type, gguf_value *v) {
    uint8_t b[8];
    v->type = type;
    switch (type) {
    case GGUF_TYPE_UINT8: if (!rd_raw(r, b, 1)) return false; v->u = b[0]; return true;
    case GGUF_TYPE_INT8: if (!rd_raw(r, b, 1)) return false; v->i = (int8_t)b[0]; return true;
    case GGUF_TYPE_BOOL: if (!rd_raw(r, b, 1)) return false; v->u = b[0] != 0; return true;
    case GGUF_TYPE_UINT16: { uint16_t x; if (!rd_raw(r, &x, 2)) return false; v->u = x; return true; }
    case GGUF_TYPE_INT16: { int16_t x; if (!rd_raw(r, &x, 2)) return false; v->i = x; return true; }
    case GGUF_TYPE_UINT32: { uint32_t x; if (!rd_raw(r, &x, 4)) return false; v->u = x; return true; }
    case GGUF_TYPE_INT32: { int32_t x; if (!rd_raw(r, &x, 4)) return false; v->i = x; return true; }
    case GGUF_TYPE_UINT64: { uint64_t x; if (!rd_raw(r, &x, 8)) return false; v->u = x; return true; }
    case GGUF_TYPE_INT64: { int64_t x; if (!rd_raw(r, &x, 8)) return false; v->i = x; return true; }
    case GGUF_TYPE_FLOAT32: { float x; if (!rd_raw(r, &x, 4)) return false; v->f = x; return true; }
    case GGUF_TYPE_FLOAT64: { double x; if (!rd_raw(r, &x, 8)) return false; v->f = x; return true; }
    case GGUF_TYPE_STRING: return rd_str(r, &v->s);
    case GGUF_TYPE_ARRAY: return parse_array(r, v, 1);
    }
    cs_set_error("%s: unknown value type %u", r->where, (unsigned)type);
    return false;
}

/* A non-negative integer value. */
static bool value_u64(const gguf_value *v, uint64_t *out) {
    if (!v || !type_is_int(v->type)) return false;
    if (type_is_signed(v->type)) {
        if (v->i < 0) return false;
        *out = (uint64_t)v->i;
    } else {
        *out = v->u;
    }
    return true;
}

static bool value_i64(const gguf_value *v, int64_t *out) {
    if (!v || !type_is_int(v->type)) return false;
    if (type_is_signed(v->type)) {
        *out = v->i;
    } else {
        if (v->u > INT64_MAX) return false;
        *out = (int64_t)v->u;
    }
    return true;
}

/* ---- one shard ----------------------------------------------------------- */

static const gguf_kv *shard_get(const gguf_shard *s, const char *key, size_t len) {
    if (!s->kv_slots) return NULL;
    for (uint64_t h = hash_bytes(key, len) & s->kv_mask;; h = (h + 1) & s->kv_mask) {
        uint64_t x = s->kv_slots[h];
        if (!x) return NULL;
        const gguf_kv *kv = &s->kv[x - 1];
        if (kv->key.len == len && memcmp(kv->key.ptr, key, len) == 0) return kv;
    }
}

static const gguf_value *shard_value(const gguf_shard *s, const char *key) {
    const gguf_kv *kv = shard_get(s, key, strlen(key));
    return kv ? &kv->value : NULL;
}

static void shard_free(gguf_shard *s) {
    for (uint64_t i = 0; i < s->n_kv; i++) value_free(&s->kv[i].value);
    free(s->kv);
    free(s->kv_slots);
    for (uint64_t i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    free(s->tensors);
    if (s->base) {
        if (s->locked) munlock(s->base, (size_t)s->size);
        if (s->mapped) munmap(s->base, (size_t)s->size);
        else free(s->base);
    }
    memset(s, 0, sizeof *s);
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static bool parse_tensor_info(rd *r, const gguf_shard *s, gguf_tensor *t, uint64_t idx, uint64_t n_tensors) {
    char nb[96];
    gguf_str name;
    snprintf(r->where, sizeof r->where, "tensor info %llu of %llu", (unsigned long long)idx + 1,
             (unsigned long long)n_tensors);
    if (!rd_str(r, &name)) return false;
    if (name.len == 0) {
        cs_set_error("tensor %llu has an empty name", (unsigned long long)idx + 1);
        return false;
    }
    show(nb, sizeof nb, name.ptr, name.len);
    if (memchr(name.ptr, 0, (size_t)name.len)) {
        cs_set_error("tensor name '%s' contains a NUL byte", nb);
        return false;
    }
    snprintf(r->where, sizeof r->where, "tensor '%s'", nb);
    if (!rd_u32(r, &t->n_dims)) return false;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS) {
        cs_set_error("tensor '%s' has %u dimensions (must be 1 to %d)", nb, t->n_dims, GGUF_MAX_DIMS);
        return false;
    }
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if (!rd_u64(r, &ne)) return false;
        if (ne == 0 || ne > INT64_MAX) {
            cs_set_error("tensor '%s' has dimension %u = %lld (must be positive)", nb, d, (long long)(int64_t)ne);
            return false;
        }
        if (!cs_mul_ok(nel, ne, &nel) || nel > INT64_MAX) {
            cs_set_error("tensor '%s': element count overflows", nb);
            return false;
        }
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    if (!rd_u32(r, &type)) return false;
    const cs_type_traits *ti = cs_type_info(type);
    if (!ti) {
        cs_set_error("tensor '%s' has unknown type id %u", nb, type);
        return false;
    }
    if (!ti->supported) {
        cs_set_error("tensor '%s' has type %s (id %u), which cseek does not support", nb, ti->name, type);
        return false;
    }
    t->type = (cs_type)type;
    if (t->ne[0] % ti->blck_size != 0) {
        cs_set_error("tensor '%s': row length %lld is not a multiple of the %s block size %d", nb,
                     (long long)t->ne[0], ti->name, ti->blck_size);
        return false;
    }
    uint64_t nb_ = (uint64_t)(t->ne[0] / ti->blck_size);
    bool ok = cs_mul_ok(nb_, ti->type_size, &nb_);
    for (uint32_t d = 1; d < GGUF_MAX_DIMS && ok; d++) ok = cs_mul_ok(nb_, (uint64_t)t->ne[d], &nb_);
    if (!ok || nb_ > s->size) {
        cs_set_error("tensor '%s' (%s, %lld x %lld x %lld x %lld) is larger than the file", nb, ti->name,
                     (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        return false;
    }
    t->nbytes = nb_;
    if (!rd_u64(r, &t->offset)) return false;
    if (t->offset % s->alignment != 0) {
        cs_set_error("tensor '%s': data offset %llu is not a multiple of the alignment %u", nb,
                     (unsigned long long)t->offset, s->alignment);
        return false;
    }
    t->name = cs_malloc((size_t)name.len + 1);
    if (!t->name) return false;
    memcpy(t->name, name.ptr, (size_t)name.len);
    t->name[name.len] = 0;
    return true;
}

/* Validate the bytes s->base[0 .. s->size) and fill in the shard. */
static bool parse_shard(gguf_shard *s) {
    rd r = {.p = s->base, .size = s->size};
    char kb[96];

    if (s->size < 4 || memcmp(s->base, "GGUF", 4) != 0) {
        if (s->size < 4) {
            cs_set_error("not a GGUF file (only %llu bytes)", (unsigned long long)s->size);
        } else {
            cs_set_error("not a GGUF file (starts with '%s', not 'GGUF')", show(kb, sizeof kb, (const char *)s->base, 4));
        }
        return false;
    }
    r.pos = 4;
    snprintf(r.where, sizeof r.where, "the header");
    if (!rd_u32(&r, &s->version)) return false;
    if (s->version != 2 && s->version != 3) {
        if ((s->version & 0xffff) == 0 && s->version != 0) {
            cs_set_error("big-endian GGUF files are not supported");
        } else {
            cs_set_error("GGUF version %u is not supported (only versions 2 and 3)", s->version);
        }
        return false;
    }
    uint64_t n_tensors, n_kv;
    if (!rd_u64(&r, &n_tensors) || !rd_u64(&r, &n_kv)) return false;
    if (n_kv > left(&r) / MIN_KV_BYTES) {
        cs_set_error("file truncated or corrupt: header says %llu metadata entries, but the remaining %llu "
                     "bytes can hold at most %llu",
                     (unsigned long long)n_kv, (unsigned long long)left(&r),
                     (unsigned long long)(left(&r) / MIN_KV_BYTES));
        return false;
    }
    if (n_tensors > (left(&r) - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES) {
        cs_set_error("file truncated or corrupt: header says %llu tensors, but the remaining %llu bytes can "
                     "hold at most %llu tensor infos",
                     (unsigned long long)n_tensors, (unsigned long long)left(&r),
                     (unsigned long long)((left(&r) - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES));
        return false;
    }

    /* metadata */
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&s->kv, &cap, i + 1, sizeof(gguf_kv))) return false;
        gguf_kv *kv = &s->kv[i];
        s->n_kv = i + 1;
        snprintf(r.where, sizeof r.where, "metadata entry %llu of %llu", (unsigned long long)i + 1,
                 (unsigned long long)n_kv);
        if (!rd_str(&r, &kv->key)) return false;
        show(kb, sizeof kb, kv->key.ptr, kv->key.len);
        snprintf(r.where, sizeof r.where, "metadata key '%s'", kb);
        uint32_t type;
        if (!rd_u32(&r, &type)) return false;
        if (!type_known(type)) {
            cs_set_error("metadata key '%s' has unknown value type %u", kb, type);
            return false;
        }
        if (!parse_value(&r, (gguf_type)type, &kv->value)) return false;
    }
    s->kv_slots = slots_new(s->n_kv, &s->kv_mask);
    if (!s->kv_slots) return false;
    for (uint64_t i = 0; i < s->n_kv; i++) {
        const gguf_str *k = &s->kv[i].key;
        uint64_t h = hash_bytes(k->ptr, (size_t)k->len) & s->kv_mask;
        for (; s->kv_slots[h]; h = (h + 1) & s->kv_mask) {
            const gguf_str *o = &s->kv[s->kv_slots[h] - 1].key;
            if (o->len == k->len && memcmp(o->ptr, k->ptr, (size_t)k->len) == 0) {
                cs_set_error("duplicate metadata key '%s'", show(kb, sizeof kb, k->ptr, k->len));
                return false;
            }
        }
        s->kv_slots[h] = i + 1;
    }

    s->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_value *av = shard_value(s, "general.alignment");
    if (av) {
        uint64_t a;
        int64_t si;
        if (value_u64(av, &a)) {
            if (a == 0 || a > (1u << 30) || (a & (a - 1)) != 0) {
                cs_set_error("general.alignment must be a nonzero power of two up to 2^30 (got %llu)",
                             (unsigned long long)a);
                return false;
            }
        } else if (value_i64(av, &si)) {
            cs_set_error("general.alignment must be a nonzero power of two (got %lld)", (long long)si);
            return false;
        } else {
            cs_set_error("general.alignment must be an integer (got a %s)", gguf_type_name(av->type));
            return false;
        }
        s->alignment = (uint32_t)a;
    }

    /* tensor infos */
    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&s->tensors, &cap, i + 1, sizeof(gguf_tensor))) return false;
        s->n_tensors = i + 1;
        if (!parse_tensor_info(&r, s, &s->tensors[i], i, n_tensors)) return false;
    }

    /* data section */
    uint64_t a = s->alignment;
    s->data_off = (r.pos + a - 1) / a * a; /* r.pos <= size < 2^63: no overflow */
    if (s->n_tensors == 0) return true;
    if (s->data_off > s->size) {
        cs_set_error("file truncated: the tensor data section (byte %llu) starts past the end of the file "
                     "(%llu bytes)",
                     (unsigned long long)s->data_off, (unsigned long long)s->size);
        return false;
    }
    uint64_t room = s->size - s->data_off;
    for (uint64_t i = 0; i < s->n_tensors; i++) {
        gguf_tensor *t = &s->tensors[i];
        if (t->offset > room || t->nbytes > room - t->offset) {
            cs_set_error("tensor '%s' (bytes %llu to %llu of the data section) extends past the end of the file "
                         "(the data section has %llu bytes): is the file truncated?",
                         show(kb, sizeof kb, t->name, strlen(t->name)), (unsigned long long)t->offset,
                         (unsigned long long)(t->offset + t->nbytes), (unsigned long long)room);
            return false;
        }
        t->data = s->base + s->data_off + t->offset;
    }
    gguf_tensor **order = cs_malloc((size_t)s->n_tensors * sizeof *order);
    if (!order) return false;
    for (uint64_t i = 0; i < s->n_tensors; i++) order[i] = &s->tensors[i];
    qsort(order, (size_t)s->n_tensors, sizeof *order, cmp_offset);
    for (uint64_t i = 1; i < s->n_tensors; i++) {
        const gguf_tensor *p = order[i - 1], *q = order[i];
        if (p->offset + p->nbytes > q->offset) {
            char nb2[96];
            cs_set_error("tensors '%s' (bytes %llu to %llu) and '%s' (bytes %llu to %llu) overlap",
                         show(kb, sizeof kb, p->name, strlen(p->name)), (unsigned long long)p->offset,
                         (unsigned long long)(p->offset + p->nbytes), show(nb2, sizeof nb2, q->name, strlen(q->name)),
                         (unsigned long long)q->offset, (unsigned long long)(q->offset + q->nbytes));
            free(order);
            return false;
        }
    }
    free(order);
    return true;
}

/* ---- loading the bytes --------------------------------------------------- */

typedef struct {
    void (*cb)(double, void *);
    void *user;
    uint64_t total, done;
} progress;

static void report(progress *p, uint64_t add) {
    p->done += add;
    if (!p->cb) return;
    double f = p->total ? (double)p->done / (double)p->total : 1.0;
    p->cb(f > 1.0 ? 1.0 : f, p->user);
}

static bool load_file(gguf_shard *s, const char *path, const gguf_open_opts *o, progress *pr) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cs_set_error("cannot open: %s", strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cs_set_error("cannot stat: %s", strerror(errno));
        close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        cs_set_error("not a regular file");
        close(fd);
        return false;
    }
    if (st.st_size == 0) { /* cannot be mapped */
        cs_set_error("empty file (0 bytes): not a GGUF file");
        close(fd);
        return false;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        cs_set_error("file too large for this platform");
        close(fd);
        return false;
    }
    s->size = (uint64_t)st.st_size;
    if (!o->no_mmap) {
        void *m = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            cs_set_error("mmap failed: %s (try --no-mmap)", strerror(errno));
            close(fd);
            return false;
        }
        close(fd);
        s->base = m;
        s->mapped = true;
        return true;
    }
    s->base = cs_malloc((size_t)s->size);
    if (!s->base) {
        close(fd);
        return false;
    }
    uint64_t got = 0;
    while (got < s->size) {
        size_t want = (size_t)CS_MIN(s->size - got, (uint64_t)READ_CHUNK);
        ssize_t n = read(fd, s->base + got, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0) cs_set_error("read failed: %s", strerror(errno));
            else cs_set_error("read failed: the file shrank while being read");
            close(fd);
            return false;
        }
        got += (uint64_t)n;
        report(pr, (uint64_t)n);
    }
    close(fd);
    return true;
}

/* "PREFIX-IIIII-of-NNNNN.gguf": prefix length, shard number and count. */
static bool split_name(const char *path, size_t *prefix, unsigned *idx, unsigned *count) {
    static const char pat[] = "-#####-of-#####.gguf";
    size_t n = strlen(path), m = sizeof pat - 1;
    if (n < m) return false;
    const char *s = path + n - m;
    unsigned a = 0, b = 0;
    for (size_t i = 0; i < m; i++) {
        if (pat[i] == '#') {
            if (s[i] < '0' || s[i] > '9') return false;
            if (i < 6) a = a * 10 + (unsigned)(s[i] - '0');
            else b = b * 10 + (unsigned)(s[i] - '0');
        } else if (s[i] != pat[i]) {
            return false;
        }
    }
    *prefix = n - m;
    *idx = a;
    *count = b;
    return true;
}

static char *shard_path(const char *path, size_t prefix, unsigned idx, unsigned count) {
    char *p = cs_malloc(prefix + 32);
    if (!p) return NULL;
    memcpy(p, path, prefix);
    snprintf(p + prefix, 32, "-%05u-of-%05u.gguf", idx, count);
    return p;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Re-issue the current error with a prefix. */
static void prefix_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void prefix_error(const char *fmt, ...) {
    char msg[1024], pre[512];
    snprintf(msg, sizeof msg, "%s", cs_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    cs_set_error("%s: %s", pre, msg);
}

/* Merge the shards' tensors into one table and index the names. */
static bool finish_file(gguf_file *f) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < f->n_shards; k++) n += f->shards[k].n_tensors;
    f->tensors = cs_calloc((size_t)(n ? n : 1), sizeof(gguf_tensor));
    if (!f->tensors) return false;
    for (uint32_t k = 0; k < f->n_shards; k++) {
        gguf_shard *s = &f->shards[k];
        for (uint64_t i = 0; i < s->n_tensors; i++) {
            f->tensors[f->n_tensors] = s->tensors[i];
            f->tensors[f->n_tensors].shard = k;
            f->n_tensors++;
        }
        free(s->tensors); /* the names now belong to f->tensors */
        s->tensors = NULL;
        s->n_tensors = 0;
    }
    f->t_slots = slots_new(f->n_tensors, &f->t_mask);
    if (!f->t_slots) return false;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        uint64_t h = hash_bytes(name, strlen(name)) & f->t_mask;
        for (; f->t_slots[h]; h = (h + 1) & f->t_mask) {
            if (strcmp(f->tensors[f->t_slots[h] - 1].name, name) == 0) {
                char nb[96];
                cs_set_error("duplicate tensor name '%s'", show(nb, sizeof nb, name, strlen(name)));
                return false;
            }
        }
        f->t_slots[h] = i + 1;
    }
    return true;
}

static void lock_shards(gguf_file *f, const gguf_open_opts *o) {
    if (!o->mlock) return;
    for (uint32_t k = 0; k < f->n_shards; k++) {
        gguf_shard *s = &f->shards[k];
        if (mlock(s->base, (size_t)s->size) == 0) {
            s->locked = true;
        } else {
            cs_log_warn("cannot lock the model in RAM (%s); continuing without mlock (see ulimit -l)",
                        strerror(errno));
            return;
        }
    }
}

static uint64_t split_key(const gguf_shard *s, const char *key, bool *present, bool *ok) {
    const gguf_value *v = shard_value(s, key);
    uint64_t x = 0;
    *present = v != NULL;
    *ok = !v || value_u64(v, &x);
    return x;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->t_slots);
    for (uint32_t k = 0; k < f->n_shards; k++) shard_free(&f->shards[k]);
    free(f->shards);
    free(f);
}

static gguf_file *file_new(void) {
    gguf_file *f = cs_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->shards = cs_calloc(1, sizeof(gguf_shard));
    if (!f->shards) {
        free(f);
        return NULL;
    }
    f->n_shards = 1;
    return f;
}

gguf_file *gguf_open(const char *path, const gguf_open_opts *opts) {
    gguf_open_opts o = opts ? *opts : (gguf_open_opts){0};
    progress pr = {.cb = o.progress, .user = o.progress_user};
    if (!path) {
        cs_set_error("no file name");
        return NULL;
    }
    size_t prefix = 0;
    unsigned idx = 0, count = 0;
    bool named = split_name(path, &prefix, &idx, &count);

    /* total bytes for progress reports: this file and the siblings its name implies */
    struct stat st;
    if (stat(path, &st) == 0) pr.total = (uint64_t)st.st_size;
    if (named && idx == 1 && count > 1) {
        for (unsigned k = 2; k <= count; k++) {
            char *sp = shard_path(path, prefix, k, count);
            if (sp && stat(sp, &st) == 0) pr.total += (uint64_t)st.st_size;
            free(sp);
        }
    }

    gguf_file *f = file_new();
    if (!f) return NULL;
    if (!load_file(&f->shards[0], path, &o, &pr) || !parse_shard(&f->shards[0])) goto fail;

    bool present, ok;
    uint64_t n_split = split_key(&f->shards[0], "split.count", &present, &ok);
    if (!ok || (present && n_split == 0)) {
        cs_set_error("split.count must be a positive integer");
        goto fail;
    }
    if (n_split > 1) {
        if (!named || count != n_split) {
            cs_set_error("split.count is %llu but the file name does not end in -00001-of-%05llu.gguf",
                         (unsigned long long)n_split, (unsigned long long)n_split);
            goto fail;
        }
        uint64_t no = split_key(&f->shards[0], "split.no", &present, &ok);
        if (idx != 1 || (present && no != 0)) {
            cs_set_error("this is shard %u of %u of a split model: open the first one (-00001-of-%05u.gguf)",
                         present && ok ? (unsigned)no + 1 : idx, count, count);
            goto fail;
        }
        if (!ok) {
            cs_set_error("split.no must be a non-negative integer");
            goto fail;
        }
        int64_t want_tensors;
        if (!gguf_get_i64(f, "split.tensors.count", &want_tensors)) {
            cs_set_error("split model without an integer split.tensors.count");
            goto fail;
        }
        gguf_shard *more = realloc(f->shards, count * sizeof *more);
        if (!more) {
            cs_set_error("out of memory");
            goto fail;
        }
        f->shards = more;
        for (unsigned k = 2; k <= count; k++) {
            char *sp = shard_path(path, prefix, k, count);
            if (!sp) goto fail;
            gguf_shard *s = &f->shards[k - 1];
            memset(s, 0, sizeof *s);
            f->n_shards = k;
            bool good = load_file(s, sp, &o, &pr) && parse_shard(s);
            if (good) {
                uint64_t sno = split_key(s, "split.no", &present, &ok);
                if (!present || !ok || sno != k - 1) {
                    cs_set_error("split.no is %s (expected %u)", present && ok ? "wrong" : "missing", k - 1);
                    good = false;
                } else if (split_key(s, "split.count", &present, &ok) != count || !ok) {
                    cs_set_error("split.count does not match the first shard's (%u)", count);
                    good = false;
                }
            }
            if (!good) {
                prefix_error("shard %u of %u (%s)", k, count, base_name(sp));
                free(sp);
                goto fail;
            }
            free(sp);
        }
        uint64_t total = 0;
        for (uint32_t k = 0; k < f->n_shards; k++) total += f->shards[k].n_tensors;
        if (want_tensors < 0 || (uint64_t)want_tensors != total) {
            cs_set_error("split.tensors.count is %lld but the %u shards hold %llu tensors", (long long)want_tensors,
                         count, (unsigned long long)total);
            goto fail;
        }
    }
    if (!finish_file(f)) goto fail;
    lock_shards(f, &o);
    if (o.progress) o.progress(1.0, o.progress_user);
    return f;
fail:
    gguf_close(f);
    return NULL;
}

gguf_file *gguf_open_memory(const void *buf, size_t n, const gguf_open_opts *opts) {
    gguf_open_opts o = opts ? *opts : (gguf_open_opts){0};
    if (!buf && n) {
        cs_set_error("no buffer");
        return NULL;
    }
    gguf_file *f = file_new();
    if (!f) return NULL;
    gguf_shard *s = &f->shards[0];
    s->size = n;
    s->base = cs_malloc(n);
    if (!s->base) goto fail;
    if (n) memcpy(s->base, buf, n);
    if (!parse_shard(s)) goto fail;
    bool present, ok;
    uint64_t n_split = split_key(s, "split.count", &present, &ok);
    if (!ok || (present && n_split == 0)) {
        cs_set_error("split.count must be a positive integer");
        goto fail;
    }
    if (n_split > 1) {
        cs_set_error("shard of a split model (split.count %llu): open it by its file name",
                     (unsigned long long)n_split);
        goto fail;
    }
    if (!finish_file(f)) goto fail;
    lock_shards(f, &o);
    if (o.progress) o.progress(1.0, o.progress_user);
    return f;
fail:
    gguf_close(f);
    return NULL;
}

/* ---- accessors ----------------------------------------------------------- */

uint32_t gguf_version(const gguf_file *f) { return f->shards[0].version; }
uint32_t gguf_alignment(const gguf_file *f) { return f->shards[0].alignment; }
uint32_t gguf_n_shards(const gguf_file *f) { return f->n_shards; }

uint64_t gguf_file_size(const gguf_file *f) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < f->n_shards; k++) n += f->shards[k].size;
    return n;
}

uint64_t gguf_n_kv(const gguf_file *f) { return f->shards[0].n_kv; }

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i) {
    return i < f->shards[0].n_kv ? &f->shards[0].kv[i] : NULL;
}

const gguf_value *gguf_get(const gguf_file *f, const char *key) {
    return key ? shard_value(&f->shards[0], key) : NULL;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    uint64_t x;
    if (!value_u64(gguf_get(f, key), &x) || x > UINT32_MAX) return false;
    *out = (uint32_t)x;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    return value_i64(gguf_get(f, key), out);
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_value *v = gguf_get(f, key);
    if (!v) return false;
    if (v->type == GGUF_TYPE_FLOAT32 || v->type == GGUF_TYPE_FLOAT64) {
        *out = (float)v->f;
        return true;
    }
    if (type_is_int(v->type)) {
        *out = type_is_signed(v->type) ? (float)v->i : (float)v->u;
        return true;
    }
    return false;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_value *v = gguf_get(f, key);
    if (!v || v->type != GGUF_TYPE_BOOL) return false;
    *out = v->u != 0;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_value *v = gguf_get(f, key);
    if (!v || v->type != GGUF_TYPE_STRING) return false;
    *out = v->s;
    return true;
}

char *gguf_get_str_dup(const gguf_file *f, const char *key) {
    gguf_str s;
    if (!gguf_get_str(f, key, &s)) return NULL;
    char *p = cs_malloc((size_t)s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

/* Element i of a scalar array, as a signed or unsigned 64-bit integer or double. */
static bool arr_elem(const gguf_value *a, uint64_t i, int64_t *si, uint64_t *ui, double *fd, int *kind) {
    if (!a || a->type != GGUF_TYPE_ARRAY || i >= a->arr.n || !a->arr.data) return false;
    size_t es = gguf_type_size(a->arr.type);
    if (!es) return false;
    const uint8_t *p = (const uint8_t *)a->arr.data + i * es;
    switch (a->arr.type) {
    case GGUF_TYPE_UINT8: *ui = p[0]; *kind = 0; return true;
    case GGUF_TYPE_BOOL: *ui = p[0] != 0; *kind = 0; return true;
    case GGUF_TYPE_INT8: *si = (int8_t)p[0]; *kind = 1; return true;
    case GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, p, 2); *ui = x; *kind = 0; return true; }
    case GGUF_TYPE_INT16: { int16_t x; memcpy(&x, p, 2); *si = x; *kind = 1; return true; }
    case GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, p, 4); *ui = x; *kind = 0; return true; }
    case GGUF_TYPE_INT32: { int32_t x; memcpy(&x, p, 4); *si = x; *kind = 1; return true; }
    case GGUF_TYPE_UINT64: { uint64_t x; memcpy(&x, p, 8); *ui = x; *kind = 0; return true; }
    case GGUF_TYPE_INT64: { int64_t x; memcpy(&x, p, 8); *si = x; *kind = 1; return true; }
    case GGUF_TYPE_FLOAT32: { float x; memcpy(&x, p, 4); *fd = x; *kind = 2; return true; }
    case GGUF_TYPE_FLOAT64: { double x; memcpy(&x, p, 8); *fd = x; *kind = 2; return true; }
    default: return false;
    }
}

bool gguf_arr_i64(const gguf_value *arr, uint64_t i, int64_t *out) {
    int64_t si = 0;
    uint64_t ui = 0;
    double fd = 0;
    int kind;
    if (!arr_elem(arr, i, &si, &ui, &fd, &kind) || kind == 2) return false;
    if (kind == 0) {
        if (ui > INT64_MAX) return false;
        si = (int64_t)ui;
    }
    *out = si;
    return true;
}

bool gguf_arr_f64(const gguf_value *arr, uint64_t i, double *out) {
    int64_t si = 0;
    uint64_t ui = 0;
    double fd = 0;
    int kind;
    if (!arr_elem(arr, i, &si, &ui, &fd, &kind)) return false;
    *out = kind == 0 ? (double)ui : kind == 1 ? (double)si : fd;
    return true;
}

uint64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!name || !f->t_slots) return NULL;
    for (uint64_t h = hash_bytes(name, strlen(name)) & f->t_mask;; h = (h + 1) & f->t_mask) {
        uint64_t x = f->t_slots[h];
        if (!x) return NULL;
        if (strcmp(f->tensors[x - 1].name, name) == 0) return &f->tensors[x - 1];
    }
}
