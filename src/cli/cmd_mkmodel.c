/* cseek mkmodel: write a synthetic GGUF model (seeded random weights, the
 * metadata llama.cpp's converter writes, a byte-level BPE vocabulary). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void help(void) {
    printf("usage: cseek mkmodel --preset NAME [options] -o FILE\n"
           "       cseek mkmodel --script TEXT [--seed N] -o FILE\n\n"
           "Write a GGUF model with seeded random weights, the metadata keys and tensor names\n"
           "llama.cpp's converter writes, and a synthetic byte-level BPE vocabulary with\n"
           "DeepSeek's special tokens and DeepSeek-R1's chat template.\n\n"
           "options:\n"
           "  -p, --preset NAME     model shape (below)\n"
           "  -s, --set KEY=VALUE   override a hyper-parameter (repeatable; keys below)\n"
           "  -t, --type T          weights: f32 (default) f16 bf16 q8_0 q4_0 q5_0 q5_1 q4_k q5_k q6_k,\n"
           "                        or llama.cpp's mixes q4_k_m q5_k_m; norms, biases and routers stay f32\n"
           "  -l, --layout L        deepseek2 MLA tensors: a (attn_kv_b, default), b (attn_kv_b plus\n"
           "                        2-D attn_k_b/attn_v_b), c (3-D attn_k_b/attn_v_b only)\n"
           "      --script TEXT     a tiny f32 llama model whose greedy decoding emits TEXT after any\n"
           "                        prompt, then eos (--preset is ignored, --set refused)\n"
           "      --seed N          random seed (default 1)\n"
           "  -o, --output FILE     where to write\n"
           "  -h, --help            this text\n\n"
           "presets:\n"
           "  tiny-qwen2     qwen2 dim 256, 3 layers, 4/2 heads, ffn 512, vocab 512, tied output, q/k/v biases\n"
           "  tiny-llama     llama dim 256, 3 layers, 4/2 heads, ffn 512, vocab 512, llama3 rope scaling\n"
           "  tiny-v3        deepseek2 dim 256, 3 layers, q LoRA 96, kv LoRA 64, 16 experts (4 used, 4 groups\n"
           "                 of which 2 kept), 1 shared, sigmoid gating, YaRN\n"
           "  tiny-v2-lite   deepseek2 dim 256, 3 layers, no q LoRA, 16 experts (6 used), 2 shared, softmax\n"
           "  qwen2-1.5b     Qwen2.5-1.5B: dim 1536, 28 layers, 12/2 heads, ffn 8960, vocab 151936, tied\n"
           "  qwen2-7b       Qwen2.5-7B: dim 3584, 28 layers, 28/4 heads, ffn 18944, vocab 152064\n"
           "  llama-8b       Llama-3.1-8B: dim 4096, 32 layers, 32/8 heads, ffn 14336, vocab 128256\n"
           "  v2-lite        DeepSeek-V2-Lite: dim 2048, 27 layers, 16 heads, 64 experts (6 used), 2 shared\n"
           "  v3             DeepSeek-V3/R1: dim 7168, 61 layers + 1 MTP block, 128 heads, 256 experts\n"
           "                 (8 used, 8 groups of which 4 kept), 1 shared\n"
           "Real shapes are big: shorten them with --set n_layer=N.\n\n"
           "keys for --set:\n");
    for (const char *const *k = cs_mkmodel_keys(); *k; k++) printf("  %s\n", *k);
}

int cmd_mkmodel(int argc, char **argv) {
    const char *cmd = "mkmodel";
    cs_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.seed = 1;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    if (!sets) return cli_usage_error(cmd, "out of memory");
    int n_sets = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            rc = 0;
            goto out;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--preset") || !strcmp(a, "-s") || !strcmp(a, "--set") ||
                   !strcmp(a, "-t") || !strcmp(a, "--type") || !strcmp(a, "-l") || !strcmp(a, "--layout") ||
                   !strcmp(a, "--script") || !strcmp(a, "--seed") || !strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!has_val) {
                cli_usage_error(cmd, "option %s needs a value", a);
                goto out;
            }
            const char *v = argv[++i];
            if (a[1] == 'p' || !strcmp(a, "--preset")) p.preset = v;
            else if (!strcmp(a, "-s") || !strcmp(a, "--set")) sets[n_sets++] = v;
            else if (a[1] == 't' || !strcmp(a, "--type")) p.type = v;
            else if (a[1] == 'l' || !strcmp(a, "--layout")) p.layout = v;
            else if (!strcmp(a, "--script")) p.script = v;
            else if (!strcmp(a, "--seed")) {
                long long n;
                if (!cli_parse_int(v, 0, 0x7fffffffffffffffLL, &n)) {
                    cli_usage_error(cmd, "bad seed '%s'", v);
                    goto out;
                }
                p.seed = (uint64_t)n;
            } else p.out_path = v;
        } else {
            cli_usage_error(cmd, "unknown option %s", a);
            goto out;
        }
    }
    if (!p.out_path) {
        cli_usage_error(cmd, "no output file (-o FILE)");
        goto out;
    }
    if (!p.preset && !p.script) {
        cli_usage_error(cmd, "no preset (--preset NAME) or --script TEXT");
        goto out;
    }
    p.set = sets;
    p.progress = cli_progress;
    p.progress_user = (void *)"writing";
    double t0 = cli_time_s();
    if (cs_mkmodel(&p)) {
        rc = cli_fail(cmd);
        goto out;
    }
    if (isatty(2)) {
        struct stat st;
        double mb = stat(p.out_path, &st) == 0 ? (double)st.st_size / 1e6 : 0.0;
        fprintf(stderr, "wrote %s: %.1f MB in %.1f s\n", p.out_path, mb, cli_time_s() - t0);
    }
    rc = 0;
out:
    free(sets);
    return rc;
}
