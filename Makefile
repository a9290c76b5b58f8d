# moesim: build, test, run, bench.
#
#   make          build ./moesim (strict warnings; -Werror when CI is set)
#   make run      build and run the default scenario
#   make test     build every cmocka test with AddressSanitizer + UBSan, run all
#   make bench    build optimised benchmarks, print figures, write bench.txt
#   make deps     install missing Debian packages (apt-get as root, else print
#                 the command and stop)
#   make SANITIZE=1   build anything with ASan + UBSan
#
# Sources are found by folder: every .c in common/ hardware/ models/
# scenarios/ sim/ results/ plots/ goes into one static library (sim/main.c
# excepted); every tests/unit/**/test_*.c is its own test program and every
# tests/bench/bench_*.c its own benchmark, each linked against the library.

CC      ?= cc
PKGS    := gsl sqlite3 cmocka inih openblas
DEB_PKGS := build-essential pkg-config libgsl-dev libsqlite3-dev sqlite3 \
            libcmocka-dev libinih-dev libopenblas-dev gnuplot-nox chromium
DEPS_CHECK = $(shell pkg-config --exists $(PKGS) 2>/dev/null && command -v gnuplot >/dev/null 2>&1 && echo yes)
DEPS_OK := $(DEPS_CHECK)
# On a fresh machine every goal but deps, clean and lint installs the
# packages first (make deps: apt-get as root, else it prints the command
# and this stops), then goes on with the flags pkg-config now gives.
ifneq ($(DEPS_OK),yes)
ifneq ($(filter-out deps clean lint,$(or $(MAKECMDGOALS),all)),)
$(info deps: Debian packages missing; installing them before building)
DEPS_RC := $(shell $(MAKE) --no-print-directory deps >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error deps: install the packages as printed above, then run make again)
endif
DEPS_OK := $(DEPS_CHECK)
endif
endif
# chromium is only needed by the test that opens the HTML report
TEST_DEPS_OK := $(shell test -x /usr/bin/chromium && echo yes)

WARN    := -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wundef
# Messages are cut at ERR_MSG_MAX on purpose; gcc's guess that a snprintf
# may truncate is not a defect there.
WARN    += -Wno-format-truncation
ifdef CI
WARN    += -Werror
endif
PKG_CFLAGS := $(if $(DEPS_OK),$(shell pkg-config --cflags $(PKGS)))
# GSL's BLAS interface is linked against OpenBLAS's CBLAS, not gslcblas.
PKG_LIBS   := $(if $(DEPS_OK),$(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS))))
CFLAGS_ALL := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. $(WARN) -g $(PKG_CFLAGS)

ifeq ($(SANITIZE),1)
BUILD   := build/san
OPT     := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   := build/rel
OPT     := -O2
LDSAN   :=
endif
CFLAGS_ALL += $(OPT) $(CFLAGS)
LDLIBS_ALL := $(LDSAN) $(PKG_LIBS) -lm -lpthread $(LDLIBS)

LIB_SRCS   := $(filter-out sim/main.c,$(wildcard common/*.c hardware/*.c models/*.c scenarios/*.c sim/*.c results/*.c plots/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS  := $(wildcard tests/unit/test_*.c tests/unit/*/test_*.c)
TEST_BINS  := $(TEST_SRCS:%.c=$(BUILD)/%)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
LIB        := $(BUILD)/libmoesim.a

.PHONY: all run test bench deps clean check-deps lint test-bins bench-bins
all: check-deps moesim

check-deps:
ifneq ($(DEPS_OK),yes)
	@echo "deps: pkg-config still cannot find $(PKGS) or gnuplot after make deps"; exit 1
endif

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	  echo "deps: missing Debian packages. Run:"; \
	  echo "  sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

moesim $(BUILD)/moesim: $(BUILD)/sim/main.o $(LIB)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -o $@ $< $(LIB) $(LDLIBS_ALL)

run: all
	./moesim run scenarios/default.ini

# The test build always uses the sanitizers; tests/run.sh runs every test
# program and prints one closing line "tests: N passed, N failed".
test: check-deps
ifneq ($(TEST_DEPS_OK),yes)
	@$(MAKE) --no-print-directory deps
endif
	@$(MAKE) --no-print-directory SANITIZE=1 test-bins
	@OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  MOESIM_BIN=build/san/moesim sh tests/run.sh build/san $(TEST_SRCS:%.c=%)

test-bins: $(TEST_BINS) $(BUILD)/moesim

bench: check-deps
	@$(MAKE) --no-print-directory bench-bins
	@OPENBLAS_NUM_THREADS=1 sh tests/bench/run.sh $(BENCH_BINS)

bench-bins: $(BENCH_BINS) moesim

lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
	  -I. common hardware models scenarios sim results plots

clean:
	rm -rf build moesim

# The header dependencies of this build's objects, wherever BUILD points.
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
