# inert on Go. The two commands a newcomer needs:
#   make demo   build everything and run the echo demo (examples/echo)
#   make test   everything CI runs
# Both install Erlang/OTP from Debian packages first when `erl` is absent.
# More demos: make fdpass (examples/fdpass), make io-demo (examples/io:
# inert_io handles on TCP connections and on a pty as a serial line).

REBAR ?= rebar3
APP    = erlang/inert
GOOS_CROSS = darwin freebsd

# The project's own builds make every Erlang compiler warning an error;
# rebar.config does not, so a user's build of inert as a dependency is not
# broken by the new warnings of a newer OTP.
export ERL_COMPILER_OPTIONS = [warnings_as_errors]

.PHONY: all deps build inertd test test-go test-repeat test-erlang cross lint fuzz shell dialyzer docs clean req-frames
.PHONY: demo fdpass io-demo

all: build

# Erlang/OTP, rebar3 and the Go modules; a no-op when they are present.
deps:
	@sh scripts/install-deps.sh

# CGO_ENABLED=0: inertd drops capabilities on every thread, which a cgo
# binary cannot do (see cmd/inertd/caps_linux.go).
inertd: deps
	CGO_ENABLED=0 go build -trimpath -o $(APP)/priv/inertd ./cmd/inertd

build: inertd
	cd $(APP) && $(REBAR) compile

# make test runs the slow fault cases even where INERT_SKIP_SLOW=1 is set.
test: export INERT_SKIP_SLOW =
test: deps lint docs test-go test-go-oldest fuzz cross test-erlang dialyzer bench-smoke test-user-projects
	@echo "make test: all checks passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	go vet ./...
	@# Every reference in the project's own code and documents must point at
	@# something in the repository (docs/contract.md, PROTOCOL.md, ...), not
	@# at a specification or issue numbers a reader does not have. vendor/
	@# is upstream's code as `go mod vendor` copies it, never edited here.
	@refs=$$(grep -rnE 'SP[E]C|issue [0-9]' --include='*.go' --include='*.erl' \
	  --include='*.md' --include=Makefile --exclude-dir=vendor --exclude-dir=_build .); \
	  if [ -n "$$refs" ]; then echo "lint: references a reader cannot open:"; echo "$$refs"; exit 1; fi

# inertd's tests run once more on epoll, the fallback where the kernel has
# no usable io_uring (auto picks io_uring when it can).
test-go:
	go test -race -count=1 ./...
	INERTD_TEST_POLLER=epoll go test -race -count=1 ./cmd/inertd/

# Flakiness hunt before a change lands: the Go suites N times in a row on
# both pollers (`make test-repeat N=20`), and with CT_REPEAT=M the Common
# Test suites M times too. A test that fails once in N here would fail CI
# by chance.
N ?= 10
CT_REPEAT ?= 0
test-repeat: deps
	go test -race -count=$(N) ./...
	INERTD_TEST_POLLER=epoll go test -race -count=$(N) ./cmd/inertd/
	@if [ "$(CT_REPEAT)" -gt 0 ]; then \
	  $(MAKE) inertd && cd $(APP) && $(REBAR) do compile, ct --readable=compact --repeat=$(CT_REPEAT); \
	fi

# Every decoder, fuzzed for FUZZTIME each from the kept corpus
# (protocol/testdata/fuzz and the golden frames). `make fuzz FUZZTIME=1000000x`
# runs a million executions per target. The default is a count, not a
# duration: with a duration, Go's fuzz coordinator (up to Go 1.26) can
# report "context deadline exceeded" as a failure when a busy machine
# keeps a worker from answering at the deadline, with no input at fault.
# 100000x is a few seconds per target here.
FUZZTIME ?= 100000x
FUZZ_TARGETS = FuzzParseRequest FuzzSkip FuzzDecoder FuzzFrameReader FuzzOpenSpec
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "go test -fuzz=$$t -fuzztime=$(FUZZTIME) ./protocol/"; \
	  go test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./protocol/ || exit 1; \
	done
	@echo "go test -fuzz=FuzzTable -fuzztime=$(FUZZTIME) ./iohandle/"
	@go test -run='^$$' -fuzz='^FuzzTable$$' -fuzztime=$(FUZZTIME) ./iohandle/

cross:
	@for os in $(GOOS_CROSS); do echo "GOOS=$$os go build ./..."; GOOS=$$os go build ./... || exit 1; done

# INERT_SKIP_SLOW=1 skips the fault suite's slow group (RELIABILITY.md).
test-erlang: inertd
	cd $(APP) && $(REBAR) do compile, eunit, ct --readable=compact

# protocol/testdata/inert_req.frames: inert_req's encoding of one request
# of every PROTOCOL.md row (erlang/inert/test/inert_req_tests.erl says
# which), which protocol/op_test.go decodes. Run it when inert_req's
# output changes (its EUnit test fails until then), then go test ./protocol/.
req-frames: build
	cd $(APP) && $(REBAR) as test compile && \
	  erl -noshell -pa _build/test/lib/inert/ebin -pa _build/test/lib/inert/test \
	    -eval 'try inert_req_tests:write(), halt(0) catch C:E -> io:format(standard_error, "~p:~p~n", [C, E]), halt(1) end.'

dialyzer: deps
	cd $(APP) && $(REBAR) dialyzer

shell: build
	cd $(APP) && $(REBAR) shell --apps inert

# The documentation, with edoc: the EEP-48 chunks that h(inert) reads in
# $(APP)/doc/chunks/ and the HTML pages in $(APP)/doc/ (index.html).
# Every edoc warning, an undocumented export of a public module and an
# internal module not marked @private fail it. Every compile also puts
# the chunks next to the compiled application (build_docs.escript).
docs: deps
	cd $(APP) && escript build_docs.escript --strict doc

# The examples run on the built application; their beams go next to it.
EXAMPLES_EBIN = $(APP)/_build/examples
INERT_EBIN = $(APP)/_build/default/lib/inert/ebin

# examples/echo under load: 50 clients x 2000 round trips of 64 bytes,
# progress while it runs, then a summary with inertd's counters.
# DEMO_ARGS="CLIENTS ROUNDS SIZE" changes the load.
demo: deps build
	@mkdir -p $(EXAMPLES_EBIN)
	erlc -o $(EXAMPLES_EBIN) examples/echo/*.erl
	erl -noshell -pa $(INERT_EBIN) -pa $(EXAMPLES_EBIN) -run echo_demo main $(DEMO_ARGS)

# examples/fdpass: a Go program hands a listening socket to the VM, and
# five workers share one UDP socket through inert_fd:dup/1.
fdpass: deps build
	@mkdir -p $(EXAMPLES_EBIN)
	erlc -o $(EXAMPLES_EBIN) examples/fdpass/*.erl
	go build -o $(EXAMPLES_EBIN)/handoff ./examples/fdpass/handoff
	erl -noshell -pa $(INERT_EBIN) -pa $(EXAMPLES_EBIN) -run fdpass main $(EXAMPLES_EBIN)/handoff

# examples/io: a TCP echo server serving each connection through an
# inert_io handle, then a pty opened with serial-line settings, a device
# on one side and a host on the other.
io-demo: deps build
	@mkdir -p $(EXAMPLES_EBIN)
	erlc -o $(EXAMPLES_EBIN) examples/io/*.erl
	erl -noshell -pa $(INERT_EBIN) -pa $(EXAMPLES_EBIN) -run io_echo main
	erl -noshell -pa $(INERT_EBIN) -pa $(EXAMPLES_EBIN) -run serial main

clean:
	rm -rf $(APP)/_build $(APP)/priv/inertd $(APP)/logs dist
	cd $(APP)/doc && find . -mindepth 1 ! -name overview.edoc -exec rm -rf {} +

.PHONY: bench bench-smoke

# Benchmarks: inert against the original C driver (native inert, built
# by bench/run.sh from its sources in bench/native-src or BENCH_NATIVE_SRC
# into bench/out/native with their own build.sh; n/a when absent), OTP socket
# nowait/select and gen_udp/gen_tcp {active, once}, every figure in one run
# of about five minutes. Writes bench/out/results.json,
# bench/wake-latency.png and the table in BENCHMARKS.md.
bench: build
	sh bench/run.sh full

# The same harness with tiny counts (< 60 s), native inert included when
# it builds: checks it runs, not speed. Part of `make test`.
bench-smoke: build
	sh bench/run.sh smoke

.PHONY: test-go-oldest package test-user-projects

# The oldest Go inertd supports is the go line of go.mod; its toolchain
# comes from the Go module proxy (scripts/install-deps.sh fetches it once,
# then this runs offline).
GO_OLDEST = go$(shell sed -n 's/^go //p' go.mod)
test-go-oldest: deps
	GOTOOLCHAIN=$(GO_OLDEST) go vet ./...
	GOTOOLCHAIN=$(GO_OLDEST) go test -race -count=1 ./...

# dist/inert-VSN.tar.gz: the source package of the committed HEAD (what a
# hex package is made from): the application, and the Go sources of inertd
# with their vendored modules in go-src/. Nothing built.
package:
	sh scripts/package.sh dist

# Builds user projects that depend on inert in every supported form
# (rebar3 git_subdir, _checkouts, the source package; mix git+sparse and
# subdir; a relx release and a mix release) against a file:// clone of the
# committed HEAD, offline, and checks that each starts inert.
test-user-projects: deps
	sh scripts/check-user-projects.sh
