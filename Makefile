# spoold - one non-recursive GNU Makefile for everything.
#
#   make            build/spoold build/spoolctl build/spool-mockllm
#   make check      deps, unit + e2e tests, then the same under ASan+UBSan
#   make demo       deps, build, run the examples through a temporary spool
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       check libraries; as root on Debian, apt-get what is missing
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
ETCDIR	 = $(PREFIX)/share/spoold
SYSCONFDIR ?= /etc/spoold
UNITDIR	 = $(PREFIX)/lib/systemd/system
TMPFILESDIR = $(PREFIX)/lib/tmpfiles.d

PKGS	:= libcurl libcjson libarchive inih libmicrohttpd libcrypto zlib \
	   libdeflate
WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
	   -Wwrite-strings

ifeq ($(SAN),1)
BUILD	?= build/asan
# gcc leaves float-cast-overflow out of "undefined": name it.
OPT	:= -O1 -g -fsanitize=address,undefined,float-cast-overflow \
	   -fno-sanitize-recover=all -fno-omit-frame-pointer
SANLD	:= -fsanitize=address,undefined,float-cast-overflow
else
BUILD	?= build
OPT	:= -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SANLD	:=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -iquote spoold $(PKG_CFLAGS)
ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) $(CFLAGS)
LDLIBS	+= $(PKG_LIBS) -lpthread -lm

# The spool core: shared by the daemon, the tools and the tests.
CORE_SRC := spoold/util.c spoold/buf.c spoold/log.c spoold/spool.c \
	    spoold/task.c spoold/record.c spoold/config.c spoold/input.c \
	    spoold/lease.c spoold/schedule.c spoold/prices.c
# The daemon's modules (linked into spoold and the daemon unit tests).
DAEMON_SRC := spoold/loop.c spoold/intake.c spoold/batch.c \
	    spoold/batch_journal.c spoold/batch_loose.c \
	    spoold/pool.c spoold/proto.c spoold/ratelimit.c \
	    spoold/worker.c spoold/http.c spoold/execrun.c \
	    spoold/execresult.c spoold/finish.c spoold/supervisor.c \
	    spoold/claim.c spoold/sched.c spoold/unpack.c \
	    spoold/sdnotify.c spoold/privs.c spoold/idset.c \
	    spoold/batch_status.c spoold/deadletter.c \
	    spoold/notify.c spoold/sortout.c spoold/pgzip.c \
	    spoold/metrics.c spoold/exporter.c spoold/stats.c

# spoolctl's own modules, beside its main() in tools/spoolctl.c.
SPOOLCTL_SRC := tools/submit.c tools/build.c tools/build_input.c \
	    tools/collect.c tools/template.c tools/chunk.c tools/csv.c \
	    tools/docid.c tools/ops.c tools/ops_change.c tools/estimate.c

# spool-mockllm's modules, beside its main() in tools/spool-mockllm.c.
MOCK_SRC := tools/mock.c tools/mock_handler.c tools/mock_faults.c \
	    tools/mock_limits.c tools/mock_reply.c tools/mock_schema.c \
	    tools/mock_stats.c tools/mock_timer.c

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
SPOOLCTL_OBJ := $(SPOOLCTL_SRC:%.c=$(BUILD)/%.o)
MOCK_OBJ   := $(MOCK_SRC:%.c=$(BUILD)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
LIBSPOOL   := $(BUILD)/libspool.a
LIBDAEMON  := $(BUILD)/libspoold.a

BINS := $(BUILD)/bin/spoold $(BUILD)/bin/spoolctl $(BUILD)/bin/spool-mockllm

UNIT_NAMES := test_util test_spool test_task test_config test_record \
	      test_input test_proto test_ratelimit test_build test_execrun \
	      test_execresult test_schedule test_prices test_metrics \
	      test_pgzip test_loop
UNIT_BINS  := $(UNIT_NAMES:%=$(BUILD)/tests/unit/%)

E2E_TESTS := $(sort $(wildcard tests/e2e/*.t))

.PHONY: all deps check check-plain check-san unit e2e demo install clean \
	lint bench valgrind fuzz fuzz-smoke fuzz-build
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBSPOOL): $(CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBDAEMON): $(DAEMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/bin/spoold: $(BUILD)/spoold/spoold.o $(LIBDAEMON) $(LIBSPOOL)
	@mkdir -p $(@D)
	$(CC) $(SANLD) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/spoolctl: $(BUILD)/tools/spoolctl.o $(SPOOLCTL_OBJ) $(LIBSPOOL)
	@mkdir -p $(@D)
	$(CC) $(SANLD) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/spool-mockllm: $(BUILD)/tools/spool-mockllm.o $(MOCK_OBJ) \
	    $(LIBSPOOL)
	@mkdir -p $(@D)
	$(CC) $(SANLD) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBDAEMON) $(LIBSPOOL)
	$(CC) $(SANLD) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# spoolctl build's pure parts (templates, chunks, CSV, ids) live in tools/.
$(BUILD)/tests/unit/test_build.o: CPPFLAGS += -iquote tools
$(BUILD)/tests/unit/test_build: $(BUILD)/tests/unit/test_build.o \
	    $(SPOOLCTL_OBJ) $(LIBSPOOL)
	$(CC) $(SANLD) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Dependencies: check with pkg-config, install with apt-get when root.
deps:
	@sh tests/deps.sh

unit: $(UNIT_BINS)
	CMOCKA_MESSAGE_OUTPUT=TAP prove -e '' $(UNIT_BINS)

# The I/O fault injection shim (LD_PRELOAD) for tests/e2e/410-io-faults.t.
$(BUILD)/tests/iofault.so: tests/fault/iofault.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -fPIC \
	    -shared -o $@ $< -ldl

# The e2e scripts install into a temporary prefix from $(BUILD).
# A failed check is repeated after prove's summary, with the warnings
# its logs had (CI shows the tail of the output).
E2E_FAILLOG = $(abspath $(BUILD))/e2e-failures.log
e2e: $(BINS) $(BUILD)/tests/iofault.so
	@rm -f $(E2E_FAILLOG)
	@SPOOLD_BUILD=$(abspath $(BUILD)) SPOOLD_SRC=$(CURDIR) \
	    SPOOLD_E2E_FAILLOG=$(E2E_FAILLOG) \
	    prove $(PROVE_FLAGS) $(E2E_TESTS) || \
	    { echo "Failed checks:"; cat $(E2E_FAILLOG) 2>/dev/null; exit 1; }

check-plain:
	$(MAKE) all unit e2e

check-san:
	$(MAKE) SAN=1 all unit e2e \
	    ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

check: deps
	sh tests/lint.sh
	$(MAKE) check-plain
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) check-san
	$(MAKE) valgrind
	$(MAKE) fuzz-smoke

# valgrind on the plain build: the loose-file smoke test, workers included.
valgrind: $(BINS)
	SPOOLD_BUILD=$(abspath $(BUILD)) SPOOLD_SRC=$(CURDIR) \
	    SPOOLD_VALGRIND=1 prove tests/e2e/020-loose.t

demo: deps
	$(MAKE) all
	sh tests/demo.sh $(abspath $(BUILD))

install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(ETCDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 etc/spoold.conf $(DESTDIR)$(ETCDIR)/spoold.conf.sample
	install -m 644 etc/prices.conf $(DESTDIR)$(ETCDIR)/prices.conf.sample
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    etc/systemd/spoold.service.in > $(DESTDIR)$(UNITDIR)/spoold.service
	chmod 644 $(DESTDIR)$(UNITDIR)/spoold.service
	install -m 644 etc/tmpfiles.d/spoold.conf \
	    $(DESTDIR)$(TMPFILESDIR)/spoold.conf
	install -m 644 etc/prometheus/spoold-alerts.yml \
	    etc/grafana/spoold-dashboard.json $(DESTDIR)$(ETCDIR)/
	for m in spoold/spoold.8 spoold/spoold.conf.5 tools/spoolctl.1 \
	    tools/spool-mockllm.1; do \
		[ -f $$m ] || continue; \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; \
	done

# libFuzzer targets (tests/fuzz/README.md): clang builds its own objects
# of the parsers with ASan+UBSan and the fuzzer's coverage; gcc's are
# never reused.  tests/fuzz/run.sh works on a copy of the corpus in a
# temporary directory and fails on a crash.
FUZZ_CC	?= clang
FUZZ_DIR := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
	   $(WARN)
FUZZ_NAMES := fuzz_task fuzz_config fuzz_unpack fuzz_http fuzz_record \
	   fuzz_build
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/%)
FUZZ_LIB_SRC := $(CORE_SRC) spoold/http.c spoold/unpack.c tools/csv.c \
	   tools/template.c
FUZZ_LIB := $(FUZZ_DIR)/libfuzzspool.a
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 6

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -iquote tools $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ \
	    $(LDLIBS)

fuzz-build: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_DIR)/obj/tests/fuzz/%.o)

fuzz: deps
	$(MAKE) fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR) $(FUZZ_NAMES)

fuzz-smoke:
	$(MAKE) fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_DIR) $(FUZZ_NAMES)

bench: deps
	$(MAKE) all
	sh tests/bench/run.sh $(abspath $(BUILD))

lint:
	sh tests/lint.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
