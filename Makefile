# wk — build, test and check.
#   make             build ./wk (release, gcc -O2)
#   make test        unit tests (Criterion) + script tests (cross-checked with python3)
#                    + `wk test tests/weak` and the tests of `wk test` itself (make test-wk)
#   make test-stress script tests with a collection at every allocation
#   make test-asan   script tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-valgrind  script tests under valgrind memcheck
#   make test-switch script tests with the dispatch loop built as a plain switch
#   make WERROR=1    treat warnings as errors (CI)

CC      ?= gcc
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif
INC     := -I.
OPT     ?= -O2 -g
LIBS    := -lreadline -lm -lutil

SRCS    := $(wildcard lexer/*.c parser/*.c vm/*.c gc/*.c stdlib/*.c)
LIBSRCS := $(filter-out vm/main.c,$(SRCS))
UNITSRC := $(wildcard tests/unit/test_*.c)

REL_OBJS  := $(patsubst %.c,build/release/%.o,$(SRCS))
ASAN_OBJS := $(patsubst %.c,build/asan/%.o,$(SRCS))
UNIT_OBJS := $(patsubst %.c,build/unit/%.o,$(LIBSRCS))

# Debian packages the build needs: header -> package.
DEPS := /usr/include/readline/readline.h:libreadline-dev \
        /usr/include/criterion/criterion.h:libcriterion-dev \
        /usr/bin/pkg-config:pkg-config

.PHONY: all deps test test-unit test-cli test-valgrind test-scripts test-wk test-stress test-asan test-switch asan clean bench

all: deps wk

# Install what is missing when we are root; otherwise say exactly what to run.
deps:
	@missing=""; for d in $(DEPS); do f=$${d%%:*}; p=$${d##*:}; \
	  [ -e "$$f" ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	  else \
	    echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

wk: $(REL_OBJS)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# The dispatch loop: threaded code wants each handler to keep its own dispatch jump (no cross
# jumping) and its values in registers (no global CSE hoisting loads across handlers).
build/release/vm/vm.o: OPT += -O3 -fno-gcse -fno-crossjumping

build/release/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) $(INC) -MMD -MP -c $< -o $@

# Sanitizer build: build/asan/wk
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan: deps build/asan/wk

build/asan/wk: $(ASAN_OBJS)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(ASAN_FLAGS) $(WARN) $(INC) -DWK_DEBUG -MMD -MP -c $< -o $@

# The dispatch loop as a plain switch (what a compiler without computed goto gets): build/switch/wk
SWITCH_OBJS := $(patsubst %.c,build/switch/%.o,$(SRCS))
build/switch/wk: $(SWITCH_OBJS)
	$(CC) -O1 -g -o $@ $^ $(LIBS)

build/switch/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) $(INC) -DWK_COMPUTED_GOTO=0 -MMD -MP -c $< -o $@

# Unit tests: one Criterion binary linking the library objects (debug build).
build/unit/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) $(INC) -DWK_DEBUG -MMD -MP -c $< -o $@

build/unit/tests: $(UNITSRC) $(UNIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) $(INC) -DWK_DEBUG -o $@ $(UNITSRC) $(UNIT_OBJS) -lcriterion $(LIBS)

test-unit: deps wk build/unit/tests
	WK_BIN=./wk ./build/unit/tests --jobs 2

test-cli: wk
	bash tests/cli/run.sh ./wk

test-scripts: wk
	python3 tests/run_scripts.py --wk ./wk

# `wk test` on the weak-semantics tests, then the tests of the runner itself.
test-wk: wk
	./wk test tests/weak
	bash tests/testrun/run.sh ./wk

test: test-unit test-cli test-scripts test-wk

test-stress: wk
	python3 tests/run_scripts.py --wk ./wk --stress --no-cpython
	./wk test -q --gc-stress tests/weak

test-asan: asan
	ASAN_OPTIONS=detect_leaks=1 python3 tests/run_scripts.py --wk build/asan/wk --no-cpython --timeout 30
	ASAN_OPTIONS=detect_leaks=1 build/asan/wk test -q tests/weak

# The script tests with the switch dispatch loop.
test-switch: deps build/switch/wk
	python3 tests/run_scripts.py --wk build/switch/wk --no-cpython

# Every script under valgrind (slow: a few minutes); not part of CI's time budget by default.
test-valgrind: wk
	python3 tests/run_scripts.py --wk tests/valgrind-wk.sh --no-cpython --timeout 120

bench: wk
	@echo "see scripts/bench/README.md"

clean:
	rm -rf build wk

-include $(REL_OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(SWITCH_OBJS:.o=.d)
