# gputel - build, test and demo.  See README.md.
#
#   make                       build/gputel, libgputel, the man pages (build/man/),
#                              the simulated driver, the fake nvidia-smi
#   make check                 every test; ends with "N passed, N failed"
#   make check SANITIZE=address,undefined
#   make demo                  the agent on simulated GPUs through a load spike (18 s);
#                              installs only what the demo needs
#   make otel-demo             agent -> node -> central collector -> a sink, on loopback
#                              (docs/otel-collectors.md, "Local stack"); Ctrl-C stops it
#   make fuzz                  build the libFuzzer harnesses (clang)
#   make bench                 the benchmarks in bench/ (figures: docs/benchmarks.md)
#   make install               PREFIX=/usr/local DESTDIR= OTELCOL= (see docs/operations.md)
#   make uninstall             removes what make install put there
#   make deb                   the Debian package, in build/deb/

CC ?= cc
BUILD ?= build
SANITIZE ?=
OPT ?= -O2

WARN := -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wformat=2 -Wno-format-nonliteral -Wpointer-arith -Wundef
CPPFLAGS += -D_GNU_SOURCE -Isrc -Iinclude
CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 $(WARN) -fno-strict-aliasing -MMD -MP
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif
LDLIBS += -ldl -lcjson -lm

# Rebuild everything when the compiler or flags change (e.g. SANITIZE=).
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = "$(FLAGS_NOW)" ] || echo "$(FLAGS_NOW)" > $(FLAGS_STAMP))

SRC := $(wildcard src/*.c)
CLIENT_SRC := lib/gputel.c
LIB_SRC := $(filter-out src/main.c,$(SRC)) $(CLIENT_SRC)
# The OTLP messages (proto/otlp.proto), compiled by protoc-c into the build directory.
PROTO_C := $(BUILD)/gen/otlp.pb-c.c
PROTO_H := $(PROTO_C:.c=.h)
CPPFLAGS += -I$(BUILD)/gen
LDLIBS += -lprotobuf-c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(PROTO_C:.c=.o)
CLIENT_SO := $(BUILD)/libgputel.so.1
CLIENT_A := $(BUILD)/libgputel.a

SIM_COMMON := sim/scenario.c
SIM_LIB := $(BUILD)/libnvidia-ml-sim.so
SIM_LIB_OLD := $(BUILD)/libnvidia-ml-sim-r418.so
FAKE_SMI := $(BUILD)/fake-smi/nvidia-smi

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps check unit integration demo otel-demo fuzz fuzz-smoke bench clean install uninstall deb man

all: $(BUILD)/gputel $(SIM_LIB) $(SIM_LIB_OLD) $(FAKE_SMI) $(CLIENT_SO) $(CLIENT_A)

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c $(FLAGS_STAMP) | $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(PROTO_H): $(PROTO_C)
$(PROTO_C): proto/otlp.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=proto --c_out=$(@D) otlp.proto

$(PROTO_C:.c=.o): $(PROTO_C) $(FLAGS_STAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/gputel: $(BUILD)/src/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libgputel, the client library (include/gputel.h): shared and static.
# Only the gputel_* names are exported from the shared one.
$(CLIENT_SO): $(BUILD)/pic/lib/gputel.o
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libgputel.so.1 -o $@ $^
	ln -sf libgputel.so.1 $(BUILD)/libgputel.so

$(CLIENT_A): $(BUILD)/lib/gputel.o
	rm -f $@
	ar rcs $@ $^

$(BUILD)/pic/lib/gputel.o: lib/gputel.c include/gputel.h $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -DGPUTEL_EXPORT='__attribute__((visibility("default")))' -c -o $@ $<

# The simulated driver: position-independent, exporting only NVML names.
$(BUILD)/pic/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

SIM_PIC := $(BUILD)/pic/sim/nvml_sim.o $(BUILD)/pic/sim/scenario.o
$(SIM_LIB): $(SIM_PIC)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libnvidia-ml.so.1 -o $@ $^ -lm

# An older driver: the same library, but the symbols newer drivers added
# are not exported at all (sim/r418.map lists what R418 had).
$(SIM_LIB_OLD): $(SIM_PIC) sim/r418.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libnvidia-ml.so.1 \
		-Wl,--version-script=sim/r418.map -o $@ $(SIM_PIC) -lm

$(FAKE_SMI): $(BUILD)/sim/fake_nvidia_smi.o $(BUILD)/sim/scenario.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_OBJ) $(BUILD)/sim/scenario.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The unit tests' objects are kept, not removed as intermediates: a second
# make check recompiles nothing, and its last line stays "N passed, N failed".
.SECONDARY: $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%.o)

unit: deps all $(UNIT_BIN)
	@tests/run.sh --unit

integration: deps all
	@tests/run.sh --integration

check: deps all $(UNIT_BIN) fuzz-build-if-clang
	@tests/run.sh

demo:
	@scripts/deps.sh --demo
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

# Builds the collector with scripts/otelcol.sh first if needed (Go; ~2 minutes).
otel-demo:
	@scripts/deps.sh --demo
	@$(MAKE) --no-print-directory all
	@scripts/otel-demo.sh

# libFuzzer harnesses (clang only); make check runs each for a short while.
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Isrc -Iinclude -I$(BUILD)/gen -g -O1 -fsanitize=fuzzer,address,undefined
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(PROTO_C) sim/scenario.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(PROTO_C) sim/scenario.c -ldl -lcjson -lm -lprotobuf-c

fuzz: $(FUZZ_BIN)

.PHONY: fuzz-build-if-clang
fuzz-build-if-clang:
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then $(MAKE) -s --no-print-directory fuzz; fi

bench: all
	@scripts/deps.sh --bench
	@bench/run.sh

clean:
	rm -rf $(BUILD)

# ---- installation ----
#
# Paths follow the GNU conventions; systemd, sysusers, tmpfiles and udev
# all read $(PREFIX)/lib/... for PREFIX=/usr and /usr/local.  The
# configuration files live in /etc whatever the prefix: the unit and
# logrotate look for them there.  The service account is filled into the
# unit, the sysusers, tmpfiles and udev files and the logrotate policy.
# The OpenTelemetry Collector units (packaging/otel/) run the operator's
# otelcol-contrib, whose path is OTELCOL; their configuration and env files
# go to $(SYSCONFDIR)/justnews/monitoring/otel.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/gputel
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
SYSCONFDIR ?= /etc
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
SERVICE_USER ?= justnews
SERVICE_GROUP ?= syslog
LOG_DIR ?= /var/log/justnews-perf
STATE_DIR ?= /var/lib/gputel
ROTATE_SIZE_MB ?= 100
ROTATE_KEEP_DAYS ?= 30
OTELCOL ?= /usr/local/bin/otelcol-contrib
OTELCONFDIR ?= $(SYSCONFDIR)/justnews/monitoring/otel
INSTALL ?= install

# The files a package ships besides the programs (build/dist/), each made
# from its template in packaging/ with the service account filled in.
DIST := $(BUILD)/dist
DIST_FILES := $(DIST)/justnews-gpu-telemetry.service $(DIST)/justnews-perf.logrotate \
	$(DIST)/60-gputel-rapl.rules $(DIST)/gputel.tmpfiles $(DIST)/gputel.sysusers $(DIST)/gputel.pc \
	$(DIST)/justnews-otel-node.service $(DIST)/justnews-otel-central.service
DIST_SED := -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@USER@|$(SERVICE_USER)|g' -e 's|@GROUP@|$(SERVICE_GROUP)|g' \
	-e 's|@LOGDIR@|$(LOG_DIR)|g' -e 's|@STATEDIR@|$(STATE_DIR)|g' -e 's|@SIZE_MB@|$(ROTATE_SIZE_MB)|g' \
	-e 's|@KEEP_DAYS@|$(ROTATE_KEEP_DAYS)|g' -e 's|@OTELCOL@|$(OTELCOL)|g' \
	-e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@VERSION@|$(shell sed -n 's/^#define GPUTEL_VERSION "\(.*\)"/\1/p' src/commands.h)|g'
DIST_STAMP := $(DIST)/.vars
DIST_VARS := $(DIST_SED)
$(shell mkdir -p $(DIST); [ "$$(cat $(DIST_STAMP) 2>/dev/null)" = "$(DIST_VARS)" ] || echo "$(DIST_VARS)" > $(DIST_STAMP))

$(DIST)/justnews-gpu-telemetry.service: packaging/justnews-gpu-telemetry.service.in $(DIST_STAMP)
$(DIST)/justnews-perf.logrotate: packaging/justnews-perf.logrotate.in $(DIST_STAMP)
$(DIST)/60-gputel-rapl.rules: packaging/60-gputel-rapl.rules.in $(DIST_STAMP)
$(DIST)/gputel.tmpfiles: packaging/gputel-rapl.tmpfiles.in $(DIST_STAMP)
$(DIST)/gputel.sysusers: packaging/gputel.sysusers.in $(DIST_STAMP)
$(DIST)/gputel.pc: packaging/gputel.pc.in $(DIST_STAMP)
$(DIST)/justnews-otel-node.service: packaging/otel/justnews-otel-node.service.in $(DIST_STAMP)
$(DIST)/justnews-otel-central.service: packaging/otel/justnews-otel-central.service.in $(DIST_STAMP)
$(DIST_FILES):
	@mkdir -p $(@D)
	sed $(DIST_SED) $< >$@.tmp && mv $@.tmp $@

# The man pages: made from the same tables as the program's help
# (scripts/gen-man.sh runs the built binary).  One run makes both: a
# grouped target, so that make -j never starts two runs at once.
MAN_PAGES := $(BUILD)/man/gputel.8 $(BUILD)/man/justnews-gpu-telemetry.5
man: $(MAN_PAGES)
all: $(MAN_PAGES)
$(MAN_PAGES) &: $(BUILD)/gputel scripts/gen-man.sh $(wildcard packaging/man/*)
	@mkdir -p $(@D)
	scripts/gen-man.sh $(BUILD)/gputel $(BUILD)/man

dist: $(DIST_FILES) $(MAN_PAGES)

# The configuration files (/etc/default, /etc/logrotate.d, and the
# collectors' configurations and env files) are installed only where
# absent: an operator's edits are never overwritten (the installers in
# scripts/perf/ and scripts/ops/ write the new version beside an edited
# one).  The collectors' env files may hold credentials: mode 0640.
OTEL_CONFIGS := node-collector-config.yaml central-collector-config.yaml
OTEL_ENVS := node.env central.env
OTEL_UNITS := justnews-otel-node.service justnews-otel-central.service
install: all dist
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
		$(DESTDIR)$(OTELCONFDIR)
	$(INSTALL) -m 0755 $(BUILD)/gputel $(DESTDIR)$(BINDIR)/gputel
	$(INSTALL) -m 0644 $(CLIENT_SO) $(DESTDIR)$(LIBDIR)/libgputel.so.1
	ln -sf libgputel.so.1 $(DESTDIR)$(LIBDIR)/libgputel.so
	$(INSTALL) -m 0644 $(CLIENT_A) $(DESTDIR)$(LIBDIR)/libgputel.a
	$(INSTALL) -m 0644 include/gputel.h $(DESTDIR)$(INCLUDEDIR)/gputel.h
	$(INSTALL) -m 0644 $(DIST)/gputel.pc $(DESTDIR)$(LIBDIR)/pkgconfig/gputel.pc
	$(INSTALL) -m 0644 $(BUILD)/man/gputel.8 $(DESTDIR)$(MANDIR)/man8/gputel.8
	$(INSTALL) -m 0644 $(BUILD)/man/justnews-gpu-telemetry.5 $(DESTDIR)$(MANDIR)/man5/justnews-gpu-telemetry.5
	$(INSTALL) -m 0644 packaging/gputel.bash-completion $(DESTDIR)$(BASHCOMPDIR)/gputel
	$(INSTALL) -m 0644 $(DIST)/justnews-gpu-telemetry.service $(DESTDIR)$(SYSTEMDDIR)/justnews-gpu-telemetry.service
	$(INSTALL) -m 0644 $(DIST)/gputel.sysusers $(DESTDIR)$(SYSUSERSDIR)/gputel.conf
	$(INSTALL) -m 0644 $(DIST)/gputel.tmpfiles $(DESTDIR)$(TMPFILESDIR)/gputel.conf
	$(INSTALL) -m 0644 $(DIST)/60-gputel-rapl.rules $(DESTDIR)$(UDEVRULESDIR)/60-gputel-rapl.rules
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/justnews-gpu-telemetry ] || \
		$(INSTALL) -m 0644 packaging/justnews-gpu-telemetry.default $(DESTDIR)$(SYSCONFDIR)/default/justnews-gpu-telemetry
	[ -e $(DESTDIR)$(SYSCONFDIR)/logrotate.d/justnews-perf ] || \
		$(INSTALL) -m 0644 $(DIST)/justnews-perf.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/justnews-perf
	$(foreach u,$(OTEL_UNITS),$(INSTALL) -m 0644 $(DIST)/$(u) $(DESTDIR)$(SYSTEMDDIR)/$(u);)
	$(foreach f,$(OTEL_CONFIGS),[ -e $(DESTDIR)$(OTELCONFDIR)/$(f) ] || \
		$(INSTALL) -m 0644 packaging/otel/$(f) $(DESTDIR)$(OTELCONFDIR)/$(f);)
	$(foreach f,$(OTEL_ENVS),[ -e $(DESTDIR)$(OTELCONFDIR)/$(f) ] || \
		$(INSTALL) -m 0640 packaging/otel/$(f) $(DESTDIR)$(OTELCONFDIR)/$(f);)

# Removes the installed files, but not the configuration files in /etc
# (an operator may have edited them; the installers' --uninstall removes
# them when they are unedited) nor the logs and state.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gputel $(DESTDIR)$(LIBDIR)/libgputel.so.1 $(DESTDIR)$(LIBDIR)/libgputel.so \
		$(DESTDIR)$(LIBDIR)/libgputel.a $(DESTDIR)$(INCLUDEDIR)/gputel.h $(DESTDIR)$(LIBDIR)/pkgconfig/gputel.pc \
		$(DESTDIR)$(MANDIR)/man8/gputel.8 $(DESTDIR)$(MANDIR)/man5/justnews-gpu-telemetry.5 \
		$(DESTDIR)$(BASHCOMPDIR)/gputel $(DESTDIR)$(SYSTEMDDIR)/justnews-gpu-telemetry.service \
		$(DESTDIR)$(SYSUSERSDIR)/gputel.conf $(DESTDIR)$(TMPFILESDIR)/gputel.conf \
		$(DESTDIR)$(UDEVRULESDIR)/60-gputel-rapl.rules \
		$(addprefix $(DESTDIR)$(SYSTEMDDIR)/,$(OTEL_UNITS))

# The Debian package (debian/), built with dpkg-buildpackage into build/deb/.
deb: deps
	@scripts/build-deb.sh

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# Benchmark helpers (bench/*.c), built on demand by bench/ scripts.
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -ldl
