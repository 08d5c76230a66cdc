# tickpipe: one executable, its tests, lint, fuzzing and benchmarks.
# `make deps && make` on a fresh Debian 12 machine; `make test` runs everything.

VERSION := $(shell cat VERSION)
BUILD ?= build
TARGET ?= tickpipe
CC ?= cc
CFLAGS ?= -O2 -g
SANITIZE ?=
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers \
            -Wno-format-truncation
ifneq ($(findstring clang,$(CC)),)
WARNINGS += -Wno-unknown-warning-option
endif
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -DTICKPIPE_VERSION='"$(VERSION)"' $(WARNINGS) \
              $(CFLAGS) $(SANITIZE) -MMD -MP

# Linked statically: what Debian ships as static archives (librdkafka and its
# codecs, zlib, libdeflate, expat). Dynamic: libcurl (Debian has no usable static
# build: it pulls ldap, gssapi, nghttp2...), OpenSSL (libcurl brings its own
# shared copy; one OpenSSL per process), cJSON (no static archive), sasl2
# (loads its mechanisms as plugins at run time).
STATIC_LIBS := -lrdkafka -llz4 -lzstd -ldeflate -lexpat -lz
DYNAMIC_LIBS := -lsasl2 -lssl -lcrypto -lcjson -lm -ldl -lpthread -lrt
LDLIBS := -Wl,-Bstatic $(STATIC_LIBS) -Wl,-Bdynamic $(DYNAMIC_LIBS)

SRC := $(sort $(wildcard lib/*.c aws/*.c kafka/*.c cmd/*.c))
OBJ := $(SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(wildcard test/unit/test_*.c))
HELPER_BIN := $(patsubst test/helpers/%.c,$(BUILD)/test/helpers/%,$(wildcard test/helpers/*.c))
FUZZ_SRC := $(wildcard test/fuzz/fuzz_*.c)
# Harnesses are also built without libFuzzer (test/fuzz/standalone.c) so
# `make test` replays their corpora; `make fuzz` builds the real fuzzers.
FUZZ_REPLAY_BIN := $(patsubst test/fuzz/%.c,$(BUILD)/test/%,$(FUZZ_SRC))
FUZZ_BIN := $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

DEB_PACKAGES := build-essential pkg-config clang clang-format clang-tidy cppcheck valgrind \
  librdkafka-dev libcurl4-openssl-dev libssl-dev libcjson-dev libexpat1-dev libdeflate-dev \
  liblz4-dev libzstd-dev libsasl2-dev zlib1g-dev kcat gzip python3 python3-kafka \
  python3-botocore python3-lz4 python3-zstandard python3-snappy nodejs ca-certificates

.PHONY: all deps test asan valgrind lint format fuzz fuzz-build bench clean install

all: $(TARGET)

# `make V=1` shows the full commands.
Q := $(if $(V),,@)

$(TARGET): $(BUILD)/main.o $(OBJ)
	@echo "  LINK  $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# the demo links the sample CSV into the binary (.incbin)
$(BUILD)/cmd/demo.o: testdata/stocks.csv

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/test/%: test/unit/%.c $(OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(OBJ) $(LDLIBS)

$(BUILD)/test/fuzz_%: test/fuzz/fuzz_%.c test/fuzz/standalone.c $(OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< test/fuzz/standalone.c $(OBJ) $(LDLIBS)

$(BUILD)/fuzz/%: test/fuzz/%.c $(OBJ)
	@mkdir -p $(dir $@)
	@echo "  FUZZ  $@"
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(OBJ) $(LDLIBS)

$(BUILD)/test/helpers/%: test/helpers/%.c $(OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(OBJ) $(LDLIBS)

deps:
	@if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	else echo "Debian packages: all present"; fi
	@command -v npm >/dev/null || { if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm </dev/null; }
	./test/deps-npm

test: all $(UNIT_BIN) $(HELPER_BIN) $(FUZZ_REPLAY_BIN)
	TICKPIPE_BIN=$(abspath $(TARGET)) TEST_BUILD=$(abspath $(BUILD)) ./test/run

asan:
	$(MAKE) BUILD=build-asan TARGET=build-asan/tickpipe CFLAGS="-O1 -g" \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

valgrind: all $(UNIT_BIN) $(HELPER_BIN) $(FUZZ_REPLAY_BIN)
	TICKPIPE_BIN=$(abspath $(TARGET)) TEST_BUILD=$(abspath $(BUILD)) TEST_VALGRIND=1 ./test/run

LINT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || ls main.c */*.c */*.h)
format:
	clang-format -i $(LINT_FILES)

lint:
	clang-format --dry-run --Werror $(LINT_FILES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --std=c11 --inline-suppr -I. --suppress=missingIncludeSystem $(SRC) main.c
	clang-tidy --quiet $(SRC) main.c -- $(filter-out -MMD -MP -Wno-format-truncation,$(ALL_CFLAGS)) 2>/dev/null

# Coverage-guided fuzzers (libFuzzer): FUZZ_SECONDS each, corpora in test/fuzz/corpus/.
FUZZ_SECONDS ?= 30
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="-O1 -g" \
	  SANITIZE="-fsanitize=fuzzer-no-link,address,undefined" fuzz-build
	./test/fuzz/run $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BIN)

bench: all $(HELPER_BIN)
	TICKPIPE_BIN=$(abspath $(TARGET)) TEST_BUILD=$(abspath $(BUILD)) ./bench/run

PREFIX ?= /usr/local
# The binary, its man page (man tickpipe), and DuckDB's library where the
# local SQL engine looks for it (PREFIX/lib/tickpipe, beside PREFIX/bin).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TARGET) $(DESTDIR)$(PREFIX)/bin/tickpipe
	install -m 644 tickpipe.1 $(DESTDIR)$(PREFIX)/share/man/man1/tickpipe.1
	@if [ -f deps/duckdb/libduckdb.so ]; then \
	  install -d $(DESTDIR)$(PREFIX)/lib/tickpipe && \
	  install -m 644 deps/duckdb/libduckdb.so $(DESTDIR)$(PREFIX)/lib/tickpipe/libduckdb.so && \
	  echo "installed $(PREFIX)/bin/tickpipe, its man page and DuckDB ($(PREFIX)/lib/tickpipe)"; \
	else echo "installed $(PREFIX)/bin/tickpipe and its man page; no deps/duckdb (run make deps) so local SQL needs TICKPIPE_DUCKDB_LIB"; fi

clean:
	rm -rf build build-asan build-fuzz $(TARGET)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
