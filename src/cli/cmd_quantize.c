/* cseek quantize: rewrite a GGUF in another type with llama.cpp's per-tensor
 * rules (the work is cs_quantize_model's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

static void help(void) {
    printf("usage: cseek quantize [options] IN.gguf OUT.gguf TYPE\n\n"
           "Write OUT with IN's matrices in TYPE, each tensor's type chosen by llama.cpp's quantizer\n"
           "rules (llama-quantize): norms, biases and routers stay as they are, output.weight gets Q6_K,\n"
           "the _M mixes give Q6_K to half the attn_v / attn_kv_b and ffn_down layers, and rows a\n"
           "k-quant block does not divide fall back to Q5_0 / Q5_1 / Q8_0 (else F16). Metadata is\n"
           "copied, general.file_type set. IN may be F32, F16, BF16 or already quantized (warned:\n"
           "quality is lost twice). A split IN is read from its first shard.\n\n"
           "options:\n"
           "  -t, --threads N               threads (default: physical cores)\n"
           "      --pure                    no per-tensor rules: every matrix gets TYPE (with fallbacks)\n"
           "      --leave-output-tensor     keep output.weight as it is\n"
           "      --output-tensor-type T    this tensor type (q8_0, f16, ...) for output.weight\n"
           "      --token-embedding-type T  this tensor type for token_embd.weight\n"
           "  -h, --help                    this text\n\n"
           "types:\n");
    for (const char *const *t = cs_quantize_types(); *t; t++) printf("  %s\n", *t);
}

static bool known_type(const char *name) {
    size_t n = strlen(name);
    for (const char *const *t = cs_quantize_types(); *t; t++)
        if (!strncasecmp(*t, name, n) && ((*t)[n] == ' ' || (*t)[n] == 0)) return true;
    return false;
}

int cmd_quantize(int argc, char **argv) {
    const char *cmd = "quantize";
    cs_quantize_params p;
    cs_quantize_params_init(&p);
    const char *pos[3];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            return 0;
        } else if (!strcmp(a, "--pure")) {
            p.pure = true;
        } else if (!strcmp(a, "--leave-output-tensor")) {
            p.leave_output = true;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "--output-tensor-type") ||
                   !strcmp(a, "--token-embedding-type")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "option %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--output-tensor-type")) p.output_type = v;
            else if (!strcmp(a, "--token-embedding-type")) p.token_embd_type = v;
            else {
                long long n;
                if (!cli_parse_int(v, 1, 4096, &n)) return cli_usage_error(cmd, "bad thread count '%s'", v);
                p.n_threads = (int)n;
            }
        } else if (a[0] == '-' && a[1] != 0) {
            return cli_usage_error(cmd, "unknown option %s", a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return cli_usage_error(cmd, "too many arguments: %s", a);
        }
    }
    if (n_pos < 3) return cli_usage_error(cmd, "need IN OUT TYPE");
    p.in_path = pos[0];
    p.out_path = pos[1];
    p.type = pos[2];
    if (!known_type(p.type)) {
        char names[512] = "";
        for (const char *const *t = cs_quantize_types(); *t; t++) {
            size_t k = strcspn(*t, " ");
            if (strlen(names) + k + 2 < sizeof names) {
                if (names[0]) strcat(names, " ");
                strncat(names, *t, k);
            }
        }
        return cli_usage_error(cmd, "unknown type '%s' (one of: %s)", p.type, names);
    }
    p.progress = cli_progress;
    p.progress_user = (void *)"quantizing";
    double t0 = cli_time_s();
    cs_quantize_stats st;
    if (cs_quantize_model(&p, &st)) {
        if (isatty(2)) fprintf(stderr, "\r                \r");
        return cli_fail(NULL); /* the message starts with the file it is about */
    }
    double bpw_in = st.n_elements ? 8.0 * (double)st.bytes_in / (double)st.n_elements : 0;
    double bpw_out = st.n_elements ? 8.0 * (double)st.bytes_out / (double)st.n_elements : 0;
    printf("%s: %s (file type %d): %d tensors, %d converted", p.out_path, p.type, st.ftype, st.n_tensors,
           st.n_converted);
    if (st.n_fallback) printf(", %d with a fallback type", st.n_fallback);
    if (st.n_requantized) printf(", %d requantized", st.n_requantized);
    printf("\n  weights %.2f MiB (%.2f bits per weight) -> %.2f MiB (%.2f bits per weight) in %.1f s\n",
           (double)st.bytes_in / 1048576.0, bpw_in, (double)st.bytes_out / 1048576.0, bpw_out, cli_time_s() - t0);
    return 0;
}
