/* The cseek command as a user meets it: --help everywhere, `info --system`,
 * `info` on the conformance models, `logits` output shape, and one-line errors with a
 * non-zero exit for bad files and bad arguments. */
#include <stdint.h>

#include "cli/harness.h"

static void help_everywhere(void) {
    const char *cmds[] = {"--help",         "info --help",  "logits --help", "mkmodel --help",
                          "tokenize --help", "run --help",  "chat --help",   "bench --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        result r = run(cmds[i]);
        CHECKF(r.rc == 0 && strstr(r.out, "usage"), "cseek %s: rc %d", cmds[i], r.rc);
        done(&r);
    }
    result r = run("frobnicate");
    CHECK(one_line_error(&r, "cseek: unknown command"));
    done(&r);
}

/* info --system names the kernels picked for this CPU; CSEEK_ISA=scalar forces the reference. */
static void info_system(void) {
    result r = run("info --system");
    CHECKF(r.rc == 0 && strstr(r.out, "kernels:") && strstr(r.out, "physical cores:"), "rc %d: %s%s", r.rc, r.out,
           r.err);
    done(&r);
    setenv("CSEEK_ISA", "scalar", 1);
    r = run("info --system");
    unsetenv("CSEEK_ISA");
    CHECKF(r.rc == 0 && strstr(r.out, "kernels:         scalar (forced by CSEEK_ISA)"), "%s", r.out);
    done(&r);
}

/* bench on a small model: both tests measured, the roofline set against the
 * bandwidth measured before each run (--membw), numbers that make sense */
static void bench_json(void) {
    char args[1024];
    setenv("XDG_CACHE_HOME", t_tmp("cache"), 1); /* the bandwidth cache stays in the test's directory */
    snprintf(args, sizeof args, "bench -m %s/conformance/qwen2-tiny-q8_0.gguf -p 8 -n 4 -r 2 --json --membw -t 1",
             t_shared_dir());
    result r = run(args);
    unsetenv("XDG_CACHE_HOME");
    CHECKF(r.rc == 0, "rc %d: %s", r.rc, r.err);
    double pp = 0, tg = 0, roof = 0, bw = 0;
    const char *p;
    if ((p = strstr(r.out, "\"prompt\"")) && (p = strstr(p, "\"tokens_per_s\":"))) pp = strtod(p + 15, NULL);
    if ((p = strstr(r.out, "\"generation\"")) && (p = strstr(p, "\"tokens_per_s\":"))) tg = strtod(p + 15, NULL);
    if ((p = strstr(r.out, "\"roofline_fraction\":"))) roof = strtod(p + 20, NULL);
    if ((p = strstr(r.out, "\"membw_gb_per_s\":"))) bw = strtod(p + 17, NULL);
    CHECKF(pp > 0 && tg > 0 && bw > 0.1 && roof > 0, "pp %g tg %g bw %g roofline %g:\n%s", pp, tg, bw, roof, r.out);
    CHECKF(strstr(r.out, "\"membw_measured_per_run\":\ttrue") != NULL, "%s", r.out);
    done(&r);
}

static void info_conformance_models(void) {
    struct {
        const char *file, *expect[6];
    } cases[] = {
        {"qwen2-tiny-q4_k_m.gguf",
         {"architecture:    qwen2", "layers:          3", "heads:           4 (kv 2)", "embedding:       256",
          "vocabulary:      512 tokens", "q4_K"}},
        {"llama-tiny-f32.gguf",
         {"architecture:    llama", "rope:            theta 500000", "frequency factors", "feed-forward:    512",
          "context (train): 8192", "rms eps:         1e-05"}},
        {"qwen2-tiny-f32.gguf",
         {"output head:     tied to token_embd", "rms eps:         1e-06", "kv cache:        1536 bytes per token (f16",
          "f32", "file size:", "GGUF v3"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[1024];
        snprintf(args, sizeof args, "info %s/conformance/%s", t_shared_dir(), cases[i].file);
        result r = run(args);
        CHECKF(r.rc == 0, "%s: %s", args, r.err);
        for (int j = 0; j < 6; j++) CHECKF(strstr(r.out, cases[i].expect[j]), "%s lacks '%s':\n%s", cases[i].file, cases[i].expect[j], r.out);
        done(&r);
    }
}

static void logits_shape_and_batching(void) {
    char args[1024];
    const char *model = "qwen2-tiny-f32.gguf";
    snprintf(args, sizeof args, "logits -m %s/conformance/%s --tokens 510,17,301,5 --all", t_shared_dir(), model);
    result a = run(args);
    CHECKF(a.rc == 0, "%s", a.err);
    CHECK(count_lines(a.out) == 4);
    /* 512 values on the first line */
    int vals = 1;
    for (const char *p = a.out; *p && *p != '\n'; p++) vals += *p == ' ';
    CHECK(vals == 512);
    snprintf(args, sizeof args, "logits -m %s/conformance/%s --tokens 510,17,301,5 --all --batch 1", t_shared_dir(), model);
    result b = run(args);
    CHECK(b.rc == 0 && count_lines(b.out) == 4);
    /* same numbers within float noise */
    char *pa = a.out, *pb = b.out;
    double worst = 0;
    for (int i = 0; i < 4 * 512; i++) {
        double x = strtod(pa, &pa), y = strtod(pb, &pb);
        if (fabs(x - y) > worst) worst = fabs(x - y);
    }
    CHECKF(worst < 1e-3, "batch vs token-by-token differ by %g", worst);
    snprintf(args, sizeof args, "logits -m %s/conformance/%s --tokens 510,17", t_shared_dir(), model);
    result c = run(args);
    CHECK(c.rc == 0 && count_lines(c.out) == 1);
    done(&a), done(&b), done(&c);
}

static void errors_are_one_line(void) {
    char args[1024], prefix[1024];
    result r = run("info /nonexistent/model.gguf");
    CHECKF(one_line_error(&r, "cseek: /nonexistent/model.gguf: "), "got: %s", r.err);
    done(&r);

    /* not a GGUF file */
    const char *not_gguf = t_tmp("not_gguf.gguf");
    FILE *f = fopen(not_gguf, "wb");
    fputs("this is not a model\n", f);
    fclose(f);
    snprintf(args, sizeof args, "info %s", not_gguf);
    snprintf(prefix, sizeof prefix, "cseek: %s: ", not_gguf);
    r = run(args);
    CHECKF(one_line_error(&r, prefix), "got: %s", r.err);
    done(&r);

    snprintf(args, sizeof args, "logits -m %s/conformance/qwen2-tiny-f32.gguf --tokens 1,512", t_shared_dir());
    snprintf(prefix, sizeof prefix, "cseek: %s/conformance/qwen2-tiny-f32.gguf: token id 512", t_shared_dir());
    r = run(args);
    CHECKF(one_line_error(&r, prefix), "got: %s", r.err);
    done(&r);

    snprintf(args, sizeof args, "logits -m %s/conformance/qwen2-tiny-f32.gguf -c 4 --tokens 1,2,3,4,5", t_shared_dir());
    r = run(args);
    CHECKF(r.rc != 0 && strstr(r.err, "context is full") && count_lines(r.err) == 1, "got: %s", r.err);
    done(&r);

    const char *bad[] = {"logits --tokens 1,2", "logits -m x.gguf --tokens 1,,2", "logits -m x.gguf --tokens -3",
                         "logits -m x.gguf --tokens 1 -t zero", "logits -m x.gguf --cache-type q2", "info"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = run(bad[i]);
        CHECKF(r.rc == 2 && count_lines(r.err) == 1 && !strncmp(r.err, "cseek: ", 7), "cseek %s: rc %d err %s", bad[i],
               r.rc, r.err);
        done(&r);
    }
}

int main(void) {
    RUN(help_everywhere);
    RUN(info_system);
    RUN(bench_json);
    RUN(info_conformance_models);
    RUN(logits_shape_and_batching);
    RUN(errors_are_one_line);
    TEST_END();
}
