package transfer

import (
	"strings"
	"testing"
)

// FuzzReadJobs: the input-file reader never panics, and every job it
// returns either has both fields or says why not.
func FuzzReadJobs(f *testing.F) {
	f.Add([]byte(`[ Url = "tok+https://h/p"; LocalFileName = "/iwd/x" ][ PluginData = [ a = 1 ] ]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := ReadJobs(data)
		if err != nil {
			return
		}
		for _, j := range jobs {
			if j.Bad == "" && j.LocalFile == "" {
				t.Fatalf("job without a file accepted: %+v", j)
			}
		}
	})
}

// FuzzParseTokenFile: never panics, and an accepted token is a valid
// bearer token that error messages could not have quoted.
func FuzzParseTokenFile(f *testing.F) {
	f.Add([]byte(`{"access_token": "abc"}`))
	f.Add([]byte("# c\n  tok==\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseTokenFile(data)
		if err != nil {
			if len(data) > 3 && strings.Contains(err.Error(), string(data)) {
				t.Fatalf("error quotes the file: %v", err)
			}
			return
		}
		if !ValidToken(tok) {
			t.Fatalf("invalid token accepted: %q", tok)
		}
	})
}

// FuzzResolve: never panics; a resolved target has an https or http URL
// with a host.
func FuzzResolve(f *testing.F) {
	f.Add("mytokens.personal+davs://h:2880/p")
	f.Add("h+cloudstore://x/y")
	cfg := DefaultConfig()
	cfg.Services = []string{"cloudstore"}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := cfg.Resolve(s)
		if err != nil {
			return
		}
		if tg.URL.Host == "" || (tg.URL.Scheme != "https" && tg.URL.Scheme != "http") {
			t.Fatalf("%q resolved to %v", s, tg.URL)
		}
		if strings.Contains(tg.CredName, "/") {
			t.Fatalf("credential name with a slash: %q", tg.CredName)
		}
	})
}
