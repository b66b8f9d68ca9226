# gettoken — build, test, benchmark, install.
#
#   make demo    the real stack (Vault, KDC, LDAP, IdP) in the foreground
#   make test    unit tests under the race detector, a few seconds of each
#                fuzz target, integration tests (what CI runs)
#   make fuzz    every fuzz target for FUZZTIME (default 1m) each
#
# The integration tier needs Debian packages, npm packages and a Vault
# server built from source; `make prereqs` installs them idempotently.

GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
LIBEXECDIR := $(DESTDIR)$(PREFIX)/libexec
# Names other tools call the originals by, installed as symlinks
# (link:target).
ALIASES := htgettoken:gettoken httokendecode:htdecodetoken
INTEGRATION_TIMEOUT ?= 45m
# Time per fuzz target: a few seconds in `make test`, longer in `make fuzz`.
FUZZ_SMOKE_TIME ?= 3s
FUZZTIME ?= 1m
# -s -w make a smaller binary that starts faster. Stack traces keep their
# function names.
BUILDFLAGS ?= -trimpath -ldflags '-s -w'

.PHONY: all build unit race fuzz-smoke fuzz integration test bench install demo prereqs vet clean
.PHONY: man package package-test

all: build

# bin/gettoken is gettoken's front end (build tag gettoken_front): it starts
# as fast as a minimal Go program and runs the full program,
# libexec/gettoken/gettoken, for anything that needs Vault (cmd/gettoken's
# front.go).
build:
	@mkdir -p bin libexec/gettoken
	$(GO) build $(BUILDFLAGS) -o bin/ ./cmd/...
	$(GO) build $(BUILDFLAGS) -o libexec/gettoken/gettoken ./cmd/gettoken
	$(GO) build $(BUILDFLAGS) -tags gettoken_front -o bin/gettoken ./cmd/gettoken

vet:
	$(GO) vet ./...
	$(GO) vet -tags gettoken_front ./cmd/gettoken
	cd integration && $(GO) vet ./...

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# The unit tests under the race detector (what `make test` runs instead
# of `make unit`: the same tests, with data races failing them).
race:
	$(GO) vet ./...
	$(GO) vet -tags gettoken_front ./cmd/gettoken
	$(GO) test -count=1 -race ./...

# Each fuzz target of the main module for a few seconds (scripts/fuzz.sh
# finds them with go test -list); findings land in testdata/fuzz/.
fuzz-smoke:
	GO=$(GO) FUZZTIME=$(FUZZ_SMOKE_TIME) scripts/fuzz.sh

fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

prereqs:
	integration/scripts/prereqs.sh

integration: prereqs
	cd integration && $(GO) vet ./... && \
	  $(GO) test -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) ./...

# prereqs first: some unit tests (krb) run a real MIT KDC.
test: prereqs race fuzz-smoke integration package-test

bench: prereqs
	integration/scripts/bench.sh

demo: prereqs build
	cd integration && $(GO) run ./cmd/stack -bin ../bin

install: build
	install -d $(BINDIR)
	for b in bin/*; do install -m 0755 $$b $(BINDIR)/; done
	install -d $(LIBEXECDIR)/gettoken
	install -m 0755 libexec/gettoken/gettoken $(LIBEXECDIR)/gettoken/
	for a in $(ALIASES); do ln -sf $${a#*:} $(BINDIR)/$${a%%:*}; done

# Man pages and bash/zsh completions into build/man, generated from the
# programs' option tables and help (see internal/cmd/mangen).
man: build
	$(GO) run ./internal/cmd/mangen -bin bin -out build/man $(notdir $(wildcard cmd/*))

# RPM and deb packages into dist/ (see docs/packaging.md), and their checks.
package:
	packaging/build.sh

package-test: prereqs package
	packaging/test.sh

clean:
	rm -rf bin libexec build dist
