# cseek: one plain Makefile.
#   make            build/cseek and build/libcseek.a
#   make test       build and run every test; ends with "N passed, N failed"
#   make test SAN=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer (in build-san/)
#   make demo       write a small synthetic model and run it
#   make test-neon  cross-compile tests/kernels/test_dot_neon.c with the few sources it needs
#                   (no libraries) for aarch64, static, twice: -march=armv8.2-a+dotprod and plain
#                   -march=armv8-a; run them under qemu-aarch64, the plain build also on a
#                   Cortex-A53 (no dotprod: its SDOT kernels must stay unused). Needs
#                   gcc-aarch64-linux-gnu and qemu-user; output in build-neon/
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

.PHONY: all test demo bench-multi clean test-neon
all: $(BUILD)/cseek $(BUILD)/libcseek.a

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -MMD -MP -c $< -o $@

# the chat page is embedded with .incbin (src/server/page.c): rebuild when it changes
$(BUILD)/obj/server/page.o: src/server/chat_page.html

$(BUILD)/libcseek.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cseek: $(CLI_OBJ) $(BUILD)/libcseek.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libcseek.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libcseek.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -Isrc -Itests -MMD -MP $< -o $@ $(LDFLAGS) $(BUILD)/libcseek.a $(LDLIBS)

test: $(BUILD)/cseek $(TEST_BIN)
	@BUILD=$(BUILD) sh tests/run.sh $(TEST_BIN) tests/server/run_node.sh

bench-multi: $(BUILD)/bench/multi

$(BUILD)/bench/%: bench/%.c $(BUILD)/libcseek.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -MMD -MP $< -o $@ $(LDFLAGS) $(BUILD)/libcseek.a $(LDLIBS)

demo: $(BUILD)/cseek
	@sh scripts/demo.sh $(BUILD)/cseek

NEON_CC   ?= aarch64-linux-gnu-gcc
NEON_QEMU ?= qemu-aarch64
NEON_SRC  := tests/kernels/test_dot_neon.c src/kernels/dot_neon.c src/kernels/dot_ref.c src/kernels/cpu.c \
             src/formats/types.c src/base/base.c
NEON_DEPS := $(NEON_SRC) src/kernels/dot_neon_int.h src/kernels/simd_neon.h src/kernels/kernels.h tests/test.h
NEON_FLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -Iinclude -Isrc -Itests

build-neon/test_dot_neon_dotprod: $(NEON_DEPS)
	@mkdir -p build-neon
	$(NEON_CC) $(NEON_FLAGS) -march=armv8.2-a+dotprod $(NEON_SRC) -o $@ -lm

build-neon/test_dot_neon_v8: $(NEON_DEPS)
	@mkdir -p build-neon
	$(NEON_CC) $(NEON_FLAGS) -march=armv8-a $(NEON_SRC) -o $@ -lm

test-neon: build-neon/test_dot_neon_dotprod build-neon/test_dot_neon_v8
	CSEEK_EXPECT_DOTPROD=1 $(NEON_QEMU) -cpu max build-neon/test_dot_neon_dotprod
	CSEEK_EXPECT_DOTPROD=1 $(NEON_QEMU) -cpu max build-neon/test_dot_neon_v8
	CSEEK_EXPECT_DOTPROD=0 $(NEON_QEMU) -cpu cortex-a53 build-neon/test_dot_neon_v8

clean:
	rm -rf build build-san build-neon

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
