# gettoken — build, test, benchmark, install.
#
#   make demo    the real stack (Vault, KDC, LDAP, IdP) in the foreground
#   make test    unit + integration tests (what CI runs)
#
# The integration tier needs Debian packages, npm packages and a Vault
# server built from source; `make prereqs` installs them idempotently.

GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
# Names other tools call the originals by, installed as symlinks
# (link:target).
ALIASES := htgettoken:gettoken httokendecode:htdecodetoken
INTEGRATION_TIMEOUT ?= 45m
# urfave_cli_no_docs drops urfave/cli's man-page generator (and its
# markdown library's start-up cost); -s -w make a smaller binary that
# starts faster. Stack traces keep their function names.
BUILDFLAGS ?= -trimpath -tags urfave_cli_no_docs -ldflags '-s -w'

.PHONY: all build unit integration test bench install demo prereqs vet clean

all: build

build:
	@mkdir -p bin
	$(GO) build $(BUILDFLAGS) -o bin/ ./cmd/...

vet:
	$(GO) vet ./...
	cd integration && $(GO) vet ./...

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

prereqs:
	integration/scripts/prereqs.sh

integration: prereqs
	cd integration && $(GO) vet ./... && \
	  $(GO) test -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) ./...

# prereqs first: some unit tests (krb) run a real MIT KDC.
test: prereqs unit integration

bench: prereqs
	integration/scripts/bench.sh

demo: prereqs build
	cd integration && $(GO) run ./cmd/stack -bin ../bin

install: build
	install -d $(BINDIR)
	for b in bin/*; do install -m 0755 $$b $(BINDIR)/; done
	for a in $(ALIASES); do ln -sf $${a#*:} $(BINDIR)/$${a%%:*}; done

clean:
	rm -rf bin
