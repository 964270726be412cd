/* GGUF writer (version 3), streaming: metadata values are serialized as they
 * are set (small), tensor infos are kept until gguf_writer_begin() writes the
 * header, then the caller streams each tensor's bytes in declaration order and
 * the writer pads every tensor to the alignment (also the last one, as
 * llama.cpp and gguf-py do).
 *
 * The alignment is 32 unless the caller sets general.alignment; that key is
 * written only when the caller sets it. Setters that fail (bad arguments, no
 * memory) record the first error, and gguf_writer_begin() then fails with it. */
#include "gguf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer assumes a little-endian host"
#endif

#define MAX_TENSOR_NAME 63 /* llama.cpp's GGML_MAX_NAME - 1 */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX - b->n) {
        b->oom = true;
        return;
    }
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n) {
            if (c > SIZE_MAX / 2) {
                c = b->n + n;
                break;
            }
            c *= 2;
        }
        uint8_t *q = realloc(b->p, c);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, uint64_t len) {
    put_u64(b, len);
    put(b, s, (size_t)len);
}

typedef struct {
    char *key;
    gguf_type type;
    uint8_t *val; /* the serialized value (what follows the type field) */
    size_t nval;
} wkv;

typedef struct {
    char *name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    cs_type type;
    uint64_t nbytes;
    uint64_t offset; /* assigned by begin() */
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    bool failed;
    char err[512];
    FILE *fp;
    bool begun, done;
    uint32_t alignment;
    size_t cur;        /* tensor being streamed */
    uint64_t cur_done; /* bytes of it written */
};

static void w_fail(gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_fail(gguf_writer *w, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!w->failed) {
        w->failed = true;
        snprintf(w->err, sizeof w->err, "%s", msg);
    }
    cs_set_error("%s", msg);
}

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = cs_calloc(1, sizeof *w);
    if (w) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    free(w->kv);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

/* Store a serialized value under key, replacing an earlier one. Takes b->p. */
static void set_raw(gguf_writer *w, const char *key, gguf_type type, buf *b) {
    if (!w) {
        free(b->p);
        return;
    }
    if (!key || !*key) {
        w_fail(w, "metadata key is empty");
        free(b->p);
        return;
    }
    if (w->begun) {
        w_fail(w, "metadata key '%s' set after the header was written", key);
        free(b->p);
        return;
    }
    if (b->oom) {
        w_fail(w, "out of memory storing metadata key '%s'", key);
        free(b->p);
        return;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = b->p;
            w->kv[i].nval = b->n;
            return;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t c = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *q = realloc(w->kv, c * sizeof *q);
        if (!q) {
            w_fail(w, "out of memory storing metadata key '%s'", key);
            free(b->p);
            return;
        }
        w->kv = q;
        w->cap_kv = c;
    }
    char *k = strdup(key);
    if (!k) {
        w_fail(w, "out of memory storing metadata key '%s'", key);
        free(b->p);
        return;
    }
    w->kv[w->n_kv++] = (wkv){.key = k, .type = type, .val = b->p, .nval = b->n};
}

static void set_scalar(gguf_writer *w, const char *key, gguf_type type, const void *v) {
    buf b = {0};
    put(&b, v, gguf_type_size(type));
    set_raw(w, key, type, &b);
}

void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v) { set_scalar(w, key, GGUF_TYPE_UINT8, &v); }
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { set_scalar(w, key, GGUF_TYPE_UINT32, &v); }
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { set_scalar(w, key, GGUF_TYPE_INT32, &v); }
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { set_scalar(w, key, GGUF_TYPE_UINT64, &v); }
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { set_scalar(w, key, GGUF_TYPE_FLOAT32, &v); }

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!w) return;
    if (!v) {
        w_fail(w, "metadata key '%s': NULL string", key ? key : "");
        return;
    }
    buf b = {0};
    put_str(&b, v, strlen(v));
    set_raw(w, key, GGUF_TYPE_STRING, &b);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t n) {
    if (!w) return;
    size_t es = gguf_type_size(elem_type);
    uint64_t bytes;
    if (!es) {
        w_fail(w, "metadata key '%s': gguf_writer_set_arr needs a scalar element type, not %s", key ? key : "",
               gguf_type_name(elem_type));
        return;
    }
    if (!cs_mul_ok(n, es, &bytes) || bytes > SIZE_MAX / 2 || (n && !data)) {
        w_fail(w, "metadata key '%s': bad array (%llu elements)", key ? key : "", (unsigned long long)n);
        return;
    }
    buf b = {0};
    put_u32(&b, (uint32_t)elem_type);
    put_u64(&b, n);
    put(&b, data, (size_t)bytes);
    set_raw(w, key, GGUF_TYPE_ARRAY, &b);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    if (!w) return;
    if (n && !strs) {
        w_fail(w, "metadata key '%s': NULL string array", key ? key : "");
        return;
    }
    buf b = {0};
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        if (!strs[i]) {
            w_fail(w, "metadata key '%s': string %llu is NULL", key ? key : "", (unsigned long long)i);
            free(b.p);
            return;
        }
        put_str(&b, strs[i], strlen(strs[i]));
    }
    set_raw(w, key, GGUF_TYPE_ARRAY, &b);
}

/* Serialize any value; false (with msg) on a value that cannot be written. */
static bool put_value(buf *b, const gguf_value *v, int depth, char *msg, size_t cap) {
    size_t es = gguf_type_size(v->type);
    if (es) {
        uint8_t x[8];
        switch (v->type) {
        case GGUF_TYPE_UINT8: x[0] = (uint8_t)v->u; break;
        case GGUF_TYPE_BOOL: x[0] = v->u != 0; break;
        case GGUF_TYPE_INT8: x[0] = (uint8_t)(int8_t)v->i; break;
        case GGUF_TYPE_UINT16: { uint16_t y = (uint16_t)v->u; memcpy(x, &y, 2); break; }
        case GGUF_TYPE_INT16: { int16_t y = (int16_t)v->i; memcpy(x, &y, 2); break; }
        case GGUF_TYPE_UINT32: { uint32_t y = (uint32_t)v->u; memcpy(x, &y, 4); break; }
        case GGUF_TYPE_INT32: { int32_t y = (int32_t)v->i; memcpy(x, &y, 4); break; }
        case GGUF_TYPE_UINT64: memcpy(x, &v->u, 8); break;
        case GGUF_TYPE_INT64: memcpy(x, &v->i, 8); break;
        case GGUF_TYPE_FLOAT32: { float y = (float)v->f; memcpy(x, &y, 4); break; }
        case GGUF_TYPE_FLOAT64: memcpy(x, &v->f, 8); break;
        default: break;
        }
        put(b, x, es);
        return true;
    }
    if (v->type == GGUF_TYPE_STRING) {
        if (v->s.len && !v->s.ptr) {
            snprintf(msg, cap, "NULL string");
            return false;
        }
        put_str(b, v->s.ptr, v->s.len);
        return true;
    }
    if (v->type != GGUF_TYPE_ARRAY) {
        snprintf(msg, cap, "unknown value type %u", (unsigned)v->type);
        return false;
    }
    if (depth > GGUF_MAX_ARRAY_DEPTH) {
        snprintf(msg, cap, "arrays nested more than %d deep", GGUF_MAX_ARRAY_DEPTH);
        return false;
    }
    gguf_type et = v->arr.type;
    uint64_t n = v->arr.n;
    put_u32(b, (uint32_t)et);
    put_u64(b, n);
    size_t ees = gguf_type_size(et);
    if (ees) {
        uint64_t bytes;
        if (!cs_mul_ok(n, ees, &bytes) || bytes > SIZE_MAX / 2 || (n && !v->arr.data)) {
            snprintf(msg, cap, "bad array of %llu %s", (unsigned long long)n, gguf_type_name(et));
            return false;
        }
        put(b, v->arr.data, (size_t)bytes);
        return true;
    }
    if (et == GGUF_TYPE_STRING) {
        if (n && !v->arr.strs) {
            snprintf(msg, cap, "string array without strings");
            return false;
        }
        for (uint64_t i = 0; i < n && !b->oom; i++) {
            const gguf_str *s = &v->arr.strs[i];
            if (s->len && !s->ptr) {
                snprintf(msg, cap, "NULL string in array");
                return false;
            }
            put_str(b, s->ptr, s->len);
        }
        return true;
    }
    if (et != GGUF_TYPE_ARRAY) {
        snprintf(msg, cap, "unknown array element type %u", (unsigned)et);
        return false;
    }
    if (depth + 1 > GGUF_MAX_ARRAY_DEPTH) {
        snprintf(msg, cap, "arrays nested more than %d deep", GGUF_MAX_ARRAY_DEPTH);
        return false;
    }
    if (n && !v->arr.items) {
        snprintf(msg, cap, "nested array without items");
        return false;
    }
    for (uint64_t i = 0; i < n && !b->oom; i++) {
        const gguf_value *it = &v->arr.items[i];
        if (it->type != GGUF_TYPE_ARRAY) {
            snprintf(msg, cap, "item %llu of a nested array is a %s, not an array", (unsigned long long)i,
                     gguf_type_name(it->type));
            return false;
        }
        /* an item is written without its type: the element type says it */
        if (!put_value(b, it, depth + 1, msg, cap)) return false;
    }
    return true;
}

void gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v) {
    if (!w) return;
    if (!v) {
        w_fail(w, "metadata key '%s': NULL value", key ? key : "");
        return;
    }
    buf b = {0};
    char msg[160];
    if (!put_value(&b, v, 1, msg, sizeof msg)) {
        w_fail(w, "metadata key '%s': %s", key ? key : "", msg);
        free(b.p);
        return;
    }
    set_raw(w, key, v->type, &b);
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, cs_type type, uint32_t n_dims, const int64_t *ne) {
    if (!w) {
        cs_set_error("no writer");
        return -1;
    }
    if (w->begun) {
        cs_set_error("tensor '%s' added after the header was written", name ? name : "");
        return -1;
    }
    if (!name || !*name || strlen(name) > MAX_TENSOR_NAME) {
        cs_set_error("tensor name '%s' must have 1 to %d bytes", name ? name : "", MAX_TENSOR_NAME);
        return -1;
    }
    const cs_type_traits *ti = cs_type_info((uint32_t)type);
    if (!ti) {
        cs_set_error("tensor '%s': unknown type id %u", name, (unsigned)type);
        return -1;
    }
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS || !ne) {
        cs_set_error("tensor '%s': %u dimensions (must be 1 to %d)", name, n_dims, GGUF_MAX_DIMS);
        return -1;
    }
    wtensor t = {.n_dims = n_dims, .type = type};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = 1;
    uint64_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || !cs_mul_ok(nel, (uint64_t)ne[d], &nel) || nel > INT64_MAX) {
            cs_set_error("tensor '%s': bad dimension %u (%lld)", name, d, (long long)ne[d]);
            return -1;
        }
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % ti->blck_size != 0) {
        cs_set_error("tensor '%s': row length %lld is not a multiple of the %s block size %d", name,
                     (long long)t.ne[0], ti->name, ti->blck_size);
        return -1;
    }
    uint64_t nb = (uint64_t)(t.ne[0] / ti->blck_size);
    bool ok = cs_mul_ok(nb, ti->type_size, &nb);
    for (int d = 1; d < GGUF_MAX_DIMS && ok; d++) ok = cs_mul_ok(nb, (uint64_t)t.ne[d], &nb);
    if (!ok || nb > (UINT64_MAX >> 2)) {
        cs_set_error("tensor '%s': size overflows", name);
        return -1;
    }
    t.nbytes = nb;
    for (size_t i = 0; i < w->n_t; i++) {
        if (strcmp(w->t[i].name, name) == 0) {
            cs_set_error("duplicate tensor name '%s'", name);
            return -1;
        }
    }
    if (w->n_t == w->cap_t) {
        size_t c = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *q = realloc(w->t, c * sizeof *q);
        if (!q) {
            cs_set_error("out of memory adding tensor '%s'", name);
            return -1;
        }
        w->t = q;
        w->cap_t = c;
    }
    t.name = strdup(name);
    if (!t.name) {
        cs_set_error("out of memory adding tensor '%s'", name);
        return -1;
    }
    w->t[w->n_t++] = t;
    return 0;
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int write_bytes(gguf_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->fp) != n) {
        w_fail(w, "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int write_zeros(gguf_writer *w, uint64_t n) {
    static const uint8_t zero[256];
    while (n > 0) {
        size_t k = (size_t)CS_MIN(n, (uint64_t)sizeof zero);
        if (write_bytes(w, zero, k)) return -1;
        n -= k;
    }
    return 0;
}

/* The alignment the caller asked for with general.alignment (default 32). */
static int find_alignment(gguf_writer *w) {
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        const wkv *kv = &w->kv[i];
        uint32_t a = 0;
        if (kv->type != GGUF_TYPE_UINT32) { /* llama.cpp reads it as a uint32 only */
            w_fail(w, "general.alignment must be a uint32, not a %s", gguf_type_name(kv->type));
            return -1;
        }
        memcpy(&a, kv->val, 4);
        if (a == 0 || a > (1u << 30) || (a & (a - 1)) != 0) {
            w_fail(w, "general.alignment must be a nonzero power of two up to 2^30 (got %u)", a);
            return -1;
        }
        w->alignment = (uint32_t)a;
    }
    return 0;
}

int gguf_writer_begin(gguf_writer *w, const char *path) {
    if (!w) {
        cs_set_error("no writer");
        return -1;
    }
    if (w->failed) {
        cs_set_error("%s", w->err);
        return -1;
    }
    if (w->begun) {
        w_fail(w, "gguf_writer_begin called twice");
        return -1;
    }
    if (find_alignment(w)) return -1;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        off = pad_to(off, w->alignment);
        w->t[i].offset = off;
        if (!cs_add_ok(off, w->t[i].nbytes, &off) || off > (UINT64_MAX >> 1)) {
            w_fail(w, "tensor data too large");
            return -1;
        }
    }

    buf h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)w->n_t);
    put_u64(&h, (uint64_t)w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(&h, (uint32_t)w->kv[i].type);
        put(&h, w->kv[i].val, w->kv[i].nval);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, (uint32_t)t->type);
        put_u64(&h, t->offset);
    }
    if (h.oom) {
        free(h.p);
        w_fail(w, "out of memory building the GGUF header");
        return -1;
    }
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        free(h.p);
        w_fail(w, "cannot create: %s", strerror(errno));
        return -1;
    }
    setvbuf(w->fp, NULL, _IOFBF, (size_t)1 << 20);
    w->begun = true;
    int rc = write_bytes(w, h.p, h.n);
    if (rc == 0) rc = write_zeros(w, pad_to(h.n, w->alignment) - h.n);
    free(h.p);
    w->cur = 0;
    w->cur_done = 0;
    return rc;
}

int gguf_writer_write_data(gguf_writer *w, const void *data, size_t n) {
    if (!w || !w->begun || w->done) {
        cs_set_error("gguf_writer_write_data called outside begin/finish");
        return -1;
    }
    if (w->failed) {
        cs_set_error("%s", w->err);
        return -1;
    }
    const uint8_t *p = data;
    while (n > 0) {
        if (w->cur >= w->n_t) {
            w_fail(w, "more tensor data written than the tensors declared hold");
            return -1;
        }
        wtensor *t = &w->t[w->cur];
        uint64_t k = CS_MIN((uint64_t)n, t->nbytes - w->cur_done);
        if (write_bytes(w, p, (size_t)k)) return -1;
        p += k;
        n -= (size_t)k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            uint64_t end = t->offset + t->nbytes;
            if (write_zeros(w, pad_to(end, w->alignment) - end)) return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

int gguf_writer_finish(gguf_writer *w) {
    if (!w || !w->begun || w->done) {
        cs_set_error("gguf_writer_finish called without a successful begin");
        return -1;
    }
    if (w->failed) {
        cs_set_error("%s", w->err);
        return -1;
    }
    if (w->cur < w->n_t) {
        const wtensor *t = &w->t[w->cur];
        w_fail(w, "tensor '%s' is incomplete: %llu of %llu bytes written (%zu of %zu tensors done)", t->name,
               (unsigned long long)w->cur_done, (unsigned long long)t->nbytes, w->cur, w->n_t);
        return -1;
    }
    w->done = true;
    FILE *fp = w->fp;
    w->fp = NULL;
    bool bad = fflush(fp) != 0 || ferror(fp);
    int e = errno;
    if (fclose(fp) != 0 && !bad) {
        bad = true;
        e = errno;
    }
    if (bad) {
        w_fail(w, "write failed: %s", strerror(e));
        return -1;
    }
    return 0;
}
