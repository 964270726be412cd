# cseek: one plain Makefile.
#   make            build/cseek and build/libcseek.a
#   make test       build and run every test; ends with "N passed, N failed"
#   make test SAN=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer (in build-san/)
#   make demo       write a small synthetic model and run it
#   make bench-multi build/bench/multi: decode steps of n contexts at once (cs_eval_multi)

CC      ?= cc
SAN     ?=
PKGS    := libpcre2-8 libutf8proc libcjson libmicrohttpd
ifeq ($(SAN),1)
BUILD   := build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
BUILD   := build
OPT     := -O2 -g
endif
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp $(OPT) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ledit -lm
LDFLAGS += -fopenmp $(filter -fsanitize=%,$(OPT))

LIB_DIRS := base formats kernels model text
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard src/$(d)/*.c))
CLI_SRC  := $(wildcard src/cli/*.c) $(wildcard src/server/*.c)
TEST_SRC := $(wildcard tests/*/test_*.c)

LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test demo bench-multi clean
all: $(BUILD)/cseek $(BUILD)/libcseek.a

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -MMD -MP -c $< -o $@

$(BUILD)/libcseek.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cseek: $(CLI_OBJ) $(BUILD)/libcseek.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libcseek.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libcseek.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -Isrc -Itests -MMD -MP $< -o $@ $(LDFLAGS) $(BUILD)/libcseek.a $(LDLIBS)

test: $(BUILD)/cseek $(TEST_BIN)
	@BUILD=$(BUILD) sh tests/run.sh $(TEST_BIN)

bench-multi: $(BUILD)/bench/multi

$(BUILD)/bench/%: bench/%.c $(BUILD)/libcseek.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -MMD -MP $< -o $@ $(LDFLAGS) $(BUILD)/libcseek.a $(LDLIBS)

demo: $(BUILD)/cseek
	@sh scripts/demo.sh $(BUILD)/cseek

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
