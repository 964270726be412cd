/* cs_quantize_model: rewrite a GGUF with its matrices in another type, as
 * llama.cpp's llama-quantize does (src/llama-quant.cpp), so the files are the
 * ones users expect: the same per-tensor types (quant_mix.c holds the rules),
 * the same metadata (copied, then general.quantization_version and
 * general.file_type appended), the same tensor order (by layer, then name)
 * and, since our reference quantizers are bit-exact with ggml's, the same
 * tensor bytes.
 *
 * Streaming: each tensor is read from the mapping a chunk of rows at a time,
 * dequantized to floats and requantized by OpenMP threads across rows, and
 * written before the next chunk; memory is two chunk buffers, not the model.
 * The output goes to OUT.part and is renamed at the end, so a failure never
 * leaves a half-written OUT. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cseek.h"
#include "../base/base.h"
#include "../formats/gguf.h"
#include "../formats/types.h"
#include "quant_mix.h"

#define CHUNK_FLOATS ((size_t)4 << 20) /* floats per chunk (16 MiB): big enough for all threads, small for RAM */

void cs_quantize_params_init(cs_quantize_params *p) {
    memset(p, 0, sizeof *p);
    p->type = "q8_0";
}

static char type_lines[32][96];
static const char *type_ptrs[33];
static void build_type_lines(void) {
    int n;
    const cs_quant_scheme *s = cs_quant_schemes(&n);
    for (int i = 0; i < n && i < 32; i++) {
        snprintf(type_lines[i], sizeof type_lines[i], "%-8s %s", s[i].name, s[i].help);
        type_ptrs[i] = type_lines[i];
    }
    type_ptrs[n < 32 ? n : 32] = NULL;
}

const char *const *cs_quantize_types(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT; /* callers may be on several threads */
    pthread_once(&once, build_type_lines);
    return type_ptrs;
}

/* llama.cpp's weight_name_comparer: by the "blk.N." layer (-1 for the
 * others, so they come first), then by name. */
static int layer_of(const char *name) {
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) l = -1;
    return l;
}

typedef struct {
    const gguf_tensor *t;
    int layer;
} sort_key;

static int cmp_tensors(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->t->name, y->t->name);
}

static bool key_is(const gguf_kv *kv, const char *key) {
    return kv->key.len == strlen(key) && memcmp(kv->key.ptr, key, kv->key.len) == 0;
}

/* An integer hyper-parameter "<arch>.<name>", or def. */
static int64_t arch_int(const gguf_file *f, const char *arch, const char *name, int64_t def) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int64_t v;
    return gguf_get_i64(f, key, &v) ? v : def;
}

/* A tensor type for output_type / token_embd_type: one we can write. */
static int parse_tensor_type(const char *name, cs_type *out) {
    int t = cs_type_from_name(name);
    const cs_type_traits *tr = t >= 0 ? cs_type_info((uint32_t)t) : NULL;
    if (!tr || !tr->supported || t == CS_TYPE_Q8_K) {
        cs_set_error("unknown tensor type '%s' (f32 f16 bf16 q8_0 q4_0 q5_0 q5_1 q4_K q5_K q6_K)", name ? name : "");
        return -1;
    }
    *out = (cs_type)t;
    return 0;
}

static bool is_quantized(cs_type t) { return t != CS_TYPE_F32 && t != CS_TYPE_F16 && t != CS_TYPE_BF16; }

typedef struct {
    const gguf_tensor *t;
    cs_type type; /* target */
    uint64_t nbytes;
} plan;

/* Convert one tensor chunk by chunk and stream it to w. 0 or -1 (error set). */
/* -1: bad input (error set, naming the input); -2: the writer failed (error set, no file name). */
static int convert_tensor(const plan *p, gguf_writer *w, float *fbuf, size_t fcap, uint8_t *obuf, int nt,
                          const char *in_path, uint64_t *done, uint64_t total, const cs_quantize_params *prm) {
    const gguf_tensor *t = p->t;
    const int64_t n = t->ne[0];
    const int64_t chunk_rows = (int64_t)(fcap / (size_t)n); /* >= 1: fcap covers the longest row */
    const size_t srb = cs_row_size(t->type, n), drb = cs_row_size(p->type, n);
    const int64_t rows = (int64_t)(t->nbytes / srb);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
        const int64_t nr = CS_MIN(chunk_rows, rows - r0);
        int64_t bad_row = -1;
        const uint8_t *src = (const uint8_t *)t->data + (size_t)r0 * srb;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t r = 0; r < nr; r++) {
            float *f = fbuf + (size_t)r * (size_t)n;
            cs_dequantize_row(t->type, src + (size_t)r * srb, f, n);
            bool finite = true;
            for (int64_t k = 0; k < n; k++) finite &= isfinite(f[k]) != 0;
            if (!finite) {
#pragma omp critical(cs_quantize_bad)
                if (bad_row < 0 || r0 + r < bad_row) bad_row = r0 + r;
                continue;
            }
            cs_quantize_row(p->type, f, obuf + (size_t)r * drb, n);
        }
        if (bad_row >= 0) { /* quantizing NaN or infinity gives garbage scales: refuse, as llama.cpp validates */
            cs_set_error("%s: tensor %s has a NaN or infinite value in row %lld", in_path, t->name, (long long)bad_row);
            return -1;
        }
        if (gguf_writer_write_data(w, obuf, (size_t)nr * drb)) return -2;
        *done += (uint64_t)nr * srb;
        if (prm->progress) prm->progress(total ? (double)*done / (double)total : 1.0, prm->progress_user);
    }
    return 0;
}

static int copy_tensor(const plan *p, gguf_writer *w, uint64_t *done, uint64_t total, const cs_quantize_params *prm) {
    const uint8_t *src = p->t->data;
    const uint64_t step = (uint64_t)64 << 20;
    for (uint64_t off = 0; off < p->t->nbytes; off += step) {
        uint64_t k = CS_MIN(step, p->t->nbytes - off);
        if (gguf_writer_write_data(w, src + off, (size_t)k)) return -2;
        *done += k;
        if (prm->progress) prm->progress(total ? (double)*done / (double)total : 1.0, prm->progress_user);
    }
    return 0;
}

int cs_quantize_model(const cs_quantize_params *prm, cs_quantize_stats *stats) {
    if (!prm || !prm->in_path || !prm->out_path) {
        cs_set_error("quantize: no input or output path");
        return -1;
    }
    const char *in = prm->in_path, *out = prm->out_path;
    const cs_quant_scheme *sc = cs_quant_scheme_find(prm->type);
    if (!sc) {
        char names[512] = "";
        int n;
        const cs_quant_scheme *all = cs_quant_schemes(&n);
        for (int i = 0; i < n; i++) {
            strncat(names, all[i].name, sizeof names - strlen(names) - 2);
            if (i + 1 < n) strncat(names, " ", sizeof names - strlen(names) - 1);
        }
        cs_set_error("unknown type '%s' (one of: %s)", prm->type ? prm->type : "", names);
        return -1;
    }
    cs_quant_scheme scheme = *sc;
    if (prm->pure) scheme.rules = false;
    cs_type out_t = (cs_type)-1, embd_t = (cs_type)-1;
    if (prm->output_type && parse_tensor_type(prm->output_type, &out_t)) return -1;
    if (prm->token_embd_type && parse_tensor_type(prm->token_embd_type, &embd_t)) return -1;
    if (prm->n_threads < 0) {
        cs_set_error("thread count must not be negative");
        return -1;
    }

    /* the output must not overwrite the input (it is mapped while we write) */
    struct stat si, so;
    if (stat(in, &si) != 0) {
        cs_set_error("%s: %s", in, strerror(errno));
        return -1;
    }
    if (stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
        cs_set_error("%s: the output file is the input file", out);
        return -1;
    }

    gguf_file *f = gguf_open(in, NULL);
    if (!f) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cs_last_error());
        cs_set_error("%s: %s", in, msg);
        return -1;
    }

    int rc = -1;
    gguf_writer *w = NULL;
    sort_key *order = NULL;
    plan *pl = NULL;
    float *fbuf = NULL;
    uint8_t *obuf = NULL;
    char *part = NULL;
    bool wrote = false;
    const uint64_t nt_all = gguf_n_tensors(f);

    /* the model facts the rules need */
    char *arch = gguf_get_str_dup(f, "general.architecture");
    cs_mix_model mm = {0};
    int max_layer = -1, n_attn_v = 0;
    for (uint64_t i = 0; i < nt_all; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        max_layer = CS_MAX(max_layer, layer_of(t->name));
        n_attn_v += cs_mix_is_attn_v(t->name);
        if (!strcmp(t->name, "output.weight")) mm.has_output = true;
    }
    int64_t n_head = 0, n_head_kv = 0;
    mm.n_layer = (int)(arch ? arch_int(f, arch, "block_count", max_layer + 1) : max_layer + 1);
    mm.n_expert = (int)(arch ? arch_int(f, arch, "expert_count", 0) : 0);
    if (arch) {
        n_head = arch_int(f, arch, "attention.head_count", 0);
        n_head_kv = arch_int(f, arch, "attention.head_count_kv", n_head);
    }
    mm.n_attn_v = n_attn_v;
    mm.is_70b = arch && !strcmp(arch, "llama") && mm.n_layer == 80 && n_head != n_head_kv;

    /* llama.cpp's tensor order, then each tensor's type */
    order = cs_malloc((size_t)(nt_all ? nt_all : 1) * sizeof *order);
    pl = cs_calloc((size_t)(nt_all ? nt_all : 1), sizeof *pl);
    if (!order || !pl) goto done;
    for (uint64_t i = 0; i < nt_all; i++) {
        order[i].t = gguf_tensor_at(f, i);
        order[i].layer = layer_of(order[i].t->name);
    }
    qsort(order, (size_t)nt_all, sizeof *order, cmp_tensors);

    cs_quantize_stats st;
    memset(&st, 0, sizeof st);
    st.ftype = scheme.ftype;
    st.n_tensors = (int)nt_all;
    cs_type requant_from = (cs_type)-1;
    size_t max_row_floats = 0;
    for (uint64_t k = 0; k < nt_all; k++) {
        const gguf_tensor *t = order[k].t;
        plan *p = &pl[k];
        p->t = t;
        p->type = t->type;
        bool is_out = !strcmp(t->name, "output.weight"), is_embd = !strcmp(t->name, "token_embd.weight");
        bool empty = t->ne[0] <= 0 || t->ne[1] <= 0 || t->ne[2] <= 0 || t->ne[3] <= 0; /* nothing to convert */
        if (!empty && cs_mix_quantizable(t->name, (int)t->n_dims) && !(prm->leave_output && is_out)) {
            if (is_out && out_t != (cs_type)-1) p->type = cs_mix_fallback(out_t, t->ne[0]);
            else if (is_embd && embd_t != (cs_type)-1) p->type = cs_mix_fallback(embd_t, t->ne[0]);
            else {
                bool fell_back = false;
                p->type = cs_quant_tensor_type(&scheme, t->name, t->ne, &mm, &fell_back);
                st.n_fallback += fell_back;
            }
        }
        uint64_t n_el = (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        st.n_elements += n_el;
        st.bytes_in += t->nbytes;
        if (p->type == t->type) {
            p->nbytes = t->nbytes;
        } else {
            const cs_type_traits *tr = cs_type_info(t->type);
            if (!tr || !tr->supported || t->type == CS_TYPE_Q8_K) {
                cs_set_error("%s: tensor %s has type %s, which cseek cannot dequantize", in, t->name,
                             cs_type_name(t->type));
                goto done;
            }
            p->nbytes = cs_row_size(p->type, t->ne[0]) * (n_el / (uint64_t)t->ne[0]);
            st.n_converted++;
            if (is_quantized(t->type) && is_quantized(p->type)) {
                st.n_requantized++;
                requant_from = t->type;
            }
            max_row_floats = CS_MAX(max_row_floats, (size_t)t->ne[0]);
        }
        st.bytes_out += p->nbytes;
    }
    if (st.n_requantized > 0)
        cs_log_warn("%s: requantizing %d tensors that are already quantized (%s and others): quality is lost twice; "
                    "quantize from the F32/F16/BF16 original if you have it",
                    in, st.n_requantized, cs_type_name(requant_from));

    /* metadata: everything but the keys llama-quantize rewrites or drops */
    w = gguf_writer_new();
    if (!w) goto done;
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (key_is(kv, "general.quantization_version") || key_is(kv, "general.file_type") || key_is(kv, "split.no") ||
            key_is(kv, "split.count") || key_is(kv, "split.tensors.count"))
            continue;
        char *key = cs_malloc(kv->key.len + 1);
        if (!key) goto done;
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = 0;
        gguf_writer_set_value(w, key, &kv->value);
        free(key);
    }
    gguf_writer_set_u32(w, "general.quantization_version", 2); /* GGML_QNT_VERSION */
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)scheme.ftype);
    for (uint64_t k = 0; k < nt_all; k++) {
        const gguf_tensor *t = pl[k].t;
        if (gguf_writer_add_tensor(w, t->name, pl[k].type, t->n_dims, t->ne)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", cs_last_error());
            cs_set_error("%s: %s", in, msg);
            goto done;
        }
    }

    size_t plen = strlen(out) + 8;
    part = cs_malloc(plen);
    if (!part) goto done;
    snprintf(part, plen, "%s.part", out);
    if (gguf_writer_begin(w, part)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cs_last_error());
        cs_set_error("%s: %s", out, msg);
        unlink(part); /* begin may have created it before a write failed */
        goto done;
    }
    wrote = true;

    int nt = prm->n_threads > 0 ? prm->n_threads : cs_physical_cores();
    if (nt < 1) nt = 1;
    /* a chunk is fcap floats; its output is at most 4 bytes a weight (F32) */
    size_t fcap = CS_MAX(CHUNK_FLOATS, max_row_floats);
    if (max_row_floats > 0) {
        fbuf = cs_malloc(fcap * sizeof(float));
        obuf = cs_malloc(fcap * sizeof(float));
        if (!fbuf || !obuf) goto done;
    }
    uint64_t done_bytes = 0;
    for (uint64_t k = 0; k < nt_all; k++) {
        const plan *p = &pl[k];
        int r = p->type == p->t->type ? copy_tensor(p, w, &done_bytes, st.bytes_in, prm)
                                      : convert_tensor(p, w, fbuf, fcap, obuf, nt, in, &done_bytes, st.bytes_in, prm);
        if (r) {
            if (r == -2) { /* a writer error: name the file */
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", cs_last_error());
                cs_set_error("%s: %s", out, msg);
            }
            goto done;
        }
    }
    if (gguf_writer_finish(w)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cs_last_error());
        cs_set_error("%s: %s", out, msg);
        goto done;
    }
    if (rename(part, out) != 0) {
        cs_set_error("%s: cannot rename %s to it: %s", out, part, strerror(errno));
        goto done;
    }
    wrote = false;
    if (stats) *stats = st;
    rc = 0;
done:
    gguf_writer_free(w);
    if (wrote && part) unlink(part);
    free(part);
    free(fbuf);
    free(obuf);
    free(order);
    free(pl);
    free(arch);
    gguf_close(f);
    return rc;
}
