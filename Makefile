# inert on Go. The two commands a newcomer needs:
#   make demo   build everything and run the echo demo (issue 3)
#   make test   everything CI runs
# Both install Erlang/OTP from Debian packages first when `erl` is absent.

REBAR ?= rebar3
APP    = erlang/inert
GOOS_CROSS = darwin freebsd

.PHONY: all deps build inertd test test-go test-erlang cross lint fuzz shell dialyzer clean

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

test: deps lint test-go fuzz cross test-erlang dialyzer
	@echo "make test: all checks passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	go vet ./...

test-go:
	go test -race -count=1 ./...

# Every decoder, fuzzed for FUZZTIME each from the kept corpus
# (protocol/testdata/fuzz and the golden frames). `make fuzz FUZZTIME=1000000x`
# runs a million executions per target.
FUZZTIME ?= 5s
FUZZ_TARGETS = FuzzParseRequest FuzzSkip FuzzDecoder FuzzFrameReader
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "go test -fuzz=$$t -fuzztime=$(FUZZTIME) ./protocol/"; \
	  go test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./protocol/ || exit 1; \
	done

cross:
	@for os in $(GOOS_CROSS); do echo "GOOS=$$os go build ./..."; GOOS=$$os go build ./... || exit 1; done

test-erlang: inertd
	cd $(APP) && $(REBAR) do compile, eunit, ct --readable=compact

dialyzer: deps
	cd $(APP) && $(REBAR) dialyzer

shell: build
	cd $(APP) && $(REBAR) shell --apps inert

clean:
	rm -rf $(APP)/_build $(APP)/priv/inertd $(APP)/logs
