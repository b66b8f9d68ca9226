package webapp

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// The literal of a credd key file for alice missing box and
// mytokens*personal, with a quote inside a value, a trailing backslash
// and a comment line.
const keyFileLiteral = `Handle = ""
Scopes = ""
Audience = ""
ClientId = "ex4mpl3cl13nt1d"
Provider = "box"
TokenUrl = "https://api.box.com/oauth2/token"
LocalUser = "alice"
ReturnUrl = "https://ap.example.org/return/box"
ClientSecret = "EXAmpL3\"ClI3NtS3cREt\"
AuthorizationUrl = "https://account.box.com/api/oauth2/authorize"

# a comment
Handle = "personal"
Scopes = "read:/home/alice, write:/home/alice"
Audience = "https://storage.example.org"
ClientId = "mytokens-client"
Provider = "mytokens"
TokenUrl = "https://issuer.example.org/token"
LocalUser = "alice"
ReturnUrl = "https://ap.example.org/return/mytokens"
ClientSecret = "s3cr3t"
AuthorizationUrl = "https://issuer.example.org/authorize"
`

func TestParseKeyFileLiteral(t *testing.T) {
	kf, err := ParseKeyFile(testKey, []byte(keyFileLiteral), ParseKeyAds)
	if err != nil {
		t.Fatal(err)
	}
	if kf.User != "alice" || len(kf.Requests) != 2 {
		t.Fatalf("%+v", kf)
	}
	b, m := kf.Requests[0], kf.Requests[1]
	if b.Label != "box" || b.Name != "box" || b.ClientSecret != `EXAmpL3"ClI3NtS3cREt\` || b.Scopes != "" {
		t.Errorf("box: %+v", b)
	}
	if m.Label != "mytokens personal" || m.Name != "mytokens_personal" || m.Audience != "https://storage.example.org" ||
		len(m.ScopeList()) != 2 || m.ScopeList()[1] != "write:/home/alice" {
		t.Errorf("mytokens: %+v", m)
	}
}

func TestParseKeyFileRefusals(t *testing.T) {
	for name, src := range map[string]string{
		"traversal provider": `Provider = "../x"` + "\nClientId = \"c\"\nLocalUser = \"a\"\nTokenUrl = \"https://t\"\nReturnUrl = \"https://r\"\nAuthorizationUrl = \"https://a\"\n",
		"slash user":         `Provider = "box"` + "\nClientId = \"c\"\nLocalUser = \"../root\"\nTokenUrl = \"https://t\"\nReturnUrl = \"https://r\"\nAuthorizationUrl = \"https://a\"\n",
		"bad url":            `Provider = "box"` + "\nClientId = \"c\"\nLocalUser = \"a\"\nTokenUrl = \"file:///etc/passwd\"\nReturnUrl = \"https://r\"\nAuthorizationUrl = \"https://a\"\n",
		"two users":          keyFileLiteral + "\nProvider = \"x\"\nClientId = \"c\"\nLocalUser = \"bob\"\nTokenUrl = \"https://t\"\nReturnUrl = \"https://r\"\nAuthorizationUrl = \"https://a\"\n",
		"http token url":     `Provider = "box"` + "\nClientId = \"c\"\nLocalUser = \"a\"\nTokenUrl = \"http://idp.example.org/token\"\nReturnUrl = \"https://r\"\nAuthorizationUrl = \"https://a\"\n",
		"not classads":       "\x00\x01garbage = = =\n",
		"empty":              "",
	} {
		if _, err := ParseKeyFile(testKey, []byte(src), ParseKeyAds); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(keyFileLiteral))
	f.Add([]byte(`[ Provider = "box"; ClientId = "c"; LocalUser = "a" ]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := ParseKeyFile(testKey, data, ParseKeyAds)
		if err != nil {
			return
		}
		for _, r := range kf.Requests {
			if !validFileName(r.Name) || r.User == "" {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}

func FuzzParseTokenAnswer(f *testing.F) {
	f.Add([]byte(`{"access_token": "a", "expires_in": 3600, "token_type": "bearer", "refresh_token": "r"}`), "application/json")
	f.Add([]byte(`access_token=a&expires_in=60`), "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, data []byte, ctype string) {
		a, err := parseTokenAnswer("https://t", data, ctype)
		if err != nil {
			return
		}
		files, err := buildFiles(Request{ClientID: "c", TokenURL: "https://t"}, a, time.Unix(0, 0), true)
		if err != nil {
			return
		}
		if !json.Valid(files.Use) || !json.Valid(files.Top) || !json.Valid(files.Meta) {
			t.Fatalf("invalid JSON written: %s", files.Use)
		}
	})
}
