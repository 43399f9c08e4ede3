# gputel - build, test and demo.  See README.md.
#
#   make                       build/gputel, the simulated driver, the fake nvidia-smi
#   make check                 every test; ends with "N passed, N failed"
#   make check SANITIZE=address,undefined
#   make demo                  collect from simulated GPUs for a few seconds
#   make fuzz                  build the libFuzzer harnesses (clang)
#   make bench                 the benchmarks in bench/ (figures: docs/benchmarks.md)

CC ?= cc
BUILD ?= build
SANITIZE ?=
OPT ?= -O2

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
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
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
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

.PHONY: all deps check unit integration demo fuzz fuzz-smoke bench clean

all: $(BUILD)/gputel $(SIM_LIB) $(SIM_LIB_OLD) $(FAKE_SMI) $(CLIENT_SO) $(CLIENT_A)

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
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

unit: deps all $(UNIT_BIN)
	@tests/run.sh --unit

integration: deps all
	@tests/run.sh --integration

check: deps all $(UNIT_BIN) fuzz-build-if-clang
	@tests/run.sh

demo: deps all
	@scripts/demo.sh

# libFuzzer harnesses (clang only); make check runs each for a short while.
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Isrc -Iinclude -g -O1 -fsanitize=fuzzer,address,undefined
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) sim/scenario.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) sim/scenario.c -ldl -lcjson -lm

fuzz: $(FUZZ_BIN)

.PHONY: fuzz-build-if-clang
fuzz-build-if-clang:
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then $(MAKE) --no-print-directory fuzz; fi

bench: deps all
	@bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Benchmark helpers (bench/*.c), built on demand by bench/ scripts.
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -ldl
