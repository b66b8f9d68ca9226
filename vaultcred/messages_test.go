package vaultcred

import (
	"context"
	"strings"
	"testing"
)

// TestFailedStepEndsItsLine checks that a step failing fatally after its
// default-mode "... " line completes that line with " failed", as
// htgettoken does, instead of leaving it for the command's empty line.
func TestFailedStepEndsItsLine(t *testing.T) {
	t.Run("kerberos 403", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
		h.fv.on("POST", pKerb, replyErrors(403, "permission denied"))
		_, err, log := h.run(h.opts(nil))
		if err == nil {
			t.Fatal("no error")
		}
		if want := "Attempting kerberos auth with " + h.fv.URL + " ... failed\n"; log != want {
			t.Errorf("log %q, want %q", log, want)
		}
	})
	t.Run("refresh token storage", func(t *testing.T) {
		h := newHarness(t)
		h.scriptOIDC(600, []string{"default"})
		h.fv.on("POST", pCreds, replyErrors(403, "permission denied"))
		_, err, log := h.run(h.opts(nil))
		if err == nil || !strings.HasPrefix(err.Error(), "Refresh token storage to") {
			t.Fatalf("error %v", err)
		}
		if !strings.HasSuffix(log, "\nSaving refresh token ... failed\n") {
			t.Errorf("log does not end with the failed line:\n%s", log)
		}
	})
	t.Run("no unfinished line, nothing added", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		h.write(h.vt, "not a token\x01\n")
		_, err, log := h.run(h.opts(nil))
		if err == nil || strings.Contains(log, "failed") {
			t.Errorf("error %v, log %q", err, log)
		}
	})
	t.Run("verbose and quiet unchanged", func(t *testing.T) {
		for _, set := range []func(o *Options){func(o *Options) { o.Verbose = true }, func(o *Options) { o.Quiet = true }} {
			h := newHarness(t)
			h.write(h.ck, "alice\n")
			h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
			h.fv.on("POST", pKerb, replyErrors(403, "permission denied"))
			_, _, log := h.run(h.opts(set))
			if strings.Contains(log, " ... ") {
				t.Errorf("progress line outside the default mode: %q", log)
			}
		}
	})
}

// TestVerboseBearerAfterOIDC checks the -v lines after an OIDC login:
// "Getting bearer token from <V>" is followed directly by "  at path",
// without the "Attempting to get bearer token from" line of the other
// methods (htgettoken prints only one of the two).
func TestVerboseBearerAfterOIDC(t *testing.T) {
	h := newHarness(t)
	h.scriptOIDC(600, []string{"default"})
	_, err, log := h.run(h.opts(func(o *Options) { o.Verbose = true }))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	want := "Getting bearer token from " + h.fv.URL + "\n  at path " + pCreds + "\n"
	if !strings.Contains(log, want) || strings.Contains(log, "Attempting to get bearer token") {
		t.Errorf("log:\n%s\nwant it to contain:\n%s", log, want)
	}
}

// TestDebugReadingCredkey checks that -d says "Reading <credkey file>"
// before "Credkey from <file>: <credkey>".
func TestDebugReadingCredkey(t *testing.T) {
	h := newHarness(t)
	h.haveStored(tokExch)
	h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
	_, err, log := h.run(h.opts(func(o *Options) { o.Debug = true }))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	want := "Reading " + h.ck + "\nCredkey from " + h.ck + ": alice\n"
	if !strings.Contains(log, want) {
		t.Errorf("log:\n%s\nwant it to contain:\n%s", log, want)
	}
}
