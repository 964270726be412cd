/* `cseek run` and `cseek chat` end to end: a scripted model's reasoning and
 * answer come out apart (--json, plain, --hide-reasoning), stop strings,
 * seeded sampling, multi-turn chat with /reset, and clean errors. */
#include <stdint.h>

#include "harness.h"

#define THINK "Let me add 2 and 2. That makes 4."
#define ANSWER "The answer is 4."
static char scripted[300], randomw[300]; /* the two test models */

static void make_models(void) {
    char args[1024];
    snprintf(args, sizeof args, "mkmodel --script '<think>" THINK "</think>" ANSWER "' -o %s", scripted);
    result r = run(args);
    CHECKF(r.rc == 0, "%s", r.err);
    done(&r);
    snprintf(args, sizeof args, "mkmodel --preset tiny-qwen2 --type q8_0 --seed 7 -o %s", randomw);
    r = run(args);
    CHECKF(r.rc == 0, "%s", r.err);
    done(&r);
}

static void json_splits_reasoning_and_answer(void) {
    char args[1024];
    snprintf(args, sizeof args, "run -m %s -p 'What is 2+2?' --json", scripted);
    result r = run(args);
    CHECKF(r.rc == 0, "%s", r.err);
    CHECKF(strstr(r.out, "\"reasoning_content\":\"" THINK "\""), "%s", r.out);
    CHECKF(strstr(r.out, "\"content\":\"" ANSWER "\""), "%s", r.out);
    CHECKF(strstr(r.out, "\"finish_reason\":\"stop\""), "%s", r.out);
    CHECKF(strstr(r.out, "\"reasoning_tokens\":"), "%s", r.out);
    CHECK(count_lines(r.out) == 1);
    done(&r);
}

static void plain_and_hidden_reasoning(void) {
    char args[1024];
    snprintf(args, sizeof args, "run -m %s -p 'What is 2+2?' -q", scripted);
    result r = run(args);
    CHECKF(r.rc == 0, "%s", r.err);
    /* not a terminal: no escape codes, reasoning, blank line, answer */
    CHECKF(!strcmp(r.out, THINK "\n\n" ANSWER "\n"), "got '%s'", r.out);
    CHECKF(r.err[0] == 0, "quiet, yet stderr has '%s'", r.err);
    done(&r);

    snprintf(args, sizeof args, "run -m %s -p 'What is 2+2?' --hide-reasoning", scripted);
    r = run(args);
    CHECKF(r.rc == 0 && !strcmp(r.out, ANSWER "\n"), "got '%s'", r.out);
    /* the speed line */
    CHECKF(strstr(r.err, "[prompt: ") && strstr(r.err, "tok/s | generation: ") && count_lines(r.err) == 1,
           "got '%s'", r.err);
    done(&r);
}

static void stop_strings_and_limits(void) {
    char args[1024];
    snprintf(args, sizeof args, "run -m %s -p hi --json --stop 'is 4'", scripted);
    result r = run(args);
    /* the reasoning holds "makes 4." (no stop match); the answer stops before "is 4" */
    CHECKF(r.rc == 0 && strstr(r.out, "\"content\":\"The answer \""), "%s", r.out);
    CHECKF(strstr(r.out, "\"reasoning_content\":\"" THINK "\""), "%s", r.out);
    done(&r);

    snprintf(args, sizeof args, "run -m %s -p hi --json -n 3", scripted);
    r = run(args);
    CHECKF(r.rc == 0 && strstr(r.out, "\"finish_reason\":\"length\"") && strstr(r.out, "\"completion_tokens\":3"),
           "%s", r.out);
    CHECKF(strstr(r.out, "\"content\":\"\""), "%s", r.out);
    done(&r);
}

static char *gen_text(int seed) {
    char args[1024];
    snprintf(args, sizeof args, "run -m %s -p 'Tell me a story' --raw -n 40 --temp 1.0 --top-p 0.9 -s %d -t 1 -q",
             randomw, seed);
    result r = run(args);
    CHECKF(r.rc == 0, "%s", r.err);
    free(r.err);
    return r.out;
}

static void seeds(void) {
    char *a = gen_text(1), *b = gen_text(1), *c = gen_text(2);
    CHECKF(!strcmp(a, b), "same seed, different text:\n%s\n%s", a, b);
    CHECKF(strcmp(a, c), "different seeds, same text:\n%s", a);
    free(a), free(b), free(c);
}

static void chat_turns(void) {
    char args[1024];
    snprintf(args, sizeof args, "chat -m %s -q", scripted);
    result r = run_in(args, "What is 2+2?\nAnd 3+3?\n/reset\nHello\n/exit\nnever read\n");
    CHECKF(r.rc == 0, "%s", r.err);
    /* three replies, each reasoning + answer */
    const char *p = r.out;
    int replies = 0;
    while ((p = strstr(p, THINK "\n\n" ANSWER "\n"))) replies++, p++;
    CHECKF(replies == 3, "%d replies in '%s'", replies, r.out);
    CHECKF(strstr(r.err, "(conversation forgotten)"), "%s", r.err);
    done(&r);

    /* speed line per turn, and the second turn reuses the cached first turn */
    snprintf(args, sizeof args, "chat -m %s", scripted);
    r = run_in(args, "What is 2+2?\nAnd 3+3?\n");
    CHECKF(r.rc == 0 && count_lines(r.err) == 2 && strstr(r.err, " cached)"), "%s", r.err);
    done(&r);
}

static void errors(void) {
    char args[1024];
    /* a prompt longer than the context */
    snprintf(args, sizeof args, "run -m %s -c 16 -p 'one two three four five six seven eight nine ten eleven'", randomw);
    result r = run(args);
    CHECKF(r.rc != 0 && count_lines(r.err) == 1 && strstr(r.err, "context"), "rc %d: %s", r.rc, r.err);
    done(&r);

    const char *usage[] = {"run -p hi", "run -m x.gguf", "run -m x.gguf -p a -f b", "run -m x.gguf -p hi --temp hot",
                           "run -m x.gguf -p hi --top-p 2", "run -m x.gguf -p hi --chat-format nope",
                           "chat --frobnicate"};
    for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
        r = run(usage[i]);
        CHECKF(r.rc != 0 && count_lines(r.err) == 1 && !strncmp(r.err, "cseek: ", 7), "cseek %s: rc %d err %s",
               usage[i], r.rc, r.err);
        done(&r);
    }
    r = run("run -m /nonexistent.gguf -p hi");
    CHECKF(one_line_error(&r, "cseek: /nonexistent.gguf: "), "%s", r.err);
    done(&r);
    r = run("run --help");
    CHECK(r.rc == 0 && strstr(r.out, "usage: cseek run"));
    done(&r);
    r = run("chat --help");
    CHECK(r.rc == 0 && strstr(r.out, "usage: cseek chat"));
    done(&r);
}

/* A long generation through the whole stack (runs under ASan+UBSan with make test SAN=1). */
static void long_generation(void) {
    char args[1024];
    snprintf(args, sizeof args, "run -m %s -p 'Write at length' -n 300 --temp 1.0 -s 5 --json -c 512 -t 1", randomw);
    result r = run(args);
    CHECKF(r.rc == 0, "%s", r.err);
    CHECKF(strstr(r.out, "\"completion_tokens\":300") || strstr(r.out, "\"finish_reason\":\"stop\""), "%s", r.out);
    done(&r);
}

int main(void) {
    snprintf(scripted, sizeof scripted, "%s", t_tmp("scripted.gguf"));
    snprintf(randomw, sizeof randomw, "%s", t_tmp("random.gguf"));
    RUN(make_models);
    RUN(json_splits_reasoning_and_answer);
    RUN(plain_and_hidden_reasoning);
    RUN(stop_strings_and_limits);
    RUN(seeds);
    RUN(chat_turns);
    RUN(errors);
    RUN(long_generation);
    TEST_END();
}
