package credmon

import (
	"context"
	"errors"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Cred is one credential in the credential directory: the .top file
// <Root>/<User>/<Name>.top and its siblings.
type Cred struct {
	// Root is the credential directory.
	Root string
	// User is the user's directory name.
	User string
	// Name is the token name: the .top file's name without ".top",
	// "<service>" or "<service>_<handle>".
	Name string
	// Dir is the user's directory, opened (without following a symlink)
	// by the daemon before it read the .top, and valid during the
	// Refresh or NextRefresh call it is passed to. A provider reads
	// siblings (a parent's .top, a .meta) through it, never through the
	// paths below, which are for messages. nil when the caller has no
	// handle (see OpenDir).
	Dir *tokenfile.Dir
}

// OpenDir returns c.Dir, or, when c has none, opens the user directory
// from c.Root (tests, callers outside the daemon); done releases it.
func (c Cred) OpenDir() (dir *tokenfile.Dir, done func(), err error) {
	if c.Dir != nil {
		return c.Dir, func() {}, nil
	}
	root, err := tokenfile.OpenDir(c.Root)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	ud, err := root.OpenDir(c.User)
	if err != nil {
		return nil, nil, err
	}
	return ud, func() { ud.Close() }, nil
}

// DirPath is the path of the user's directory (for messages).
func (c Cred) DirPath() string { return c.Root + "/" + c.User }

// Top is the path of the .top file.
func (c Cred) Top() string { return c.DirPath() + "/" + c.Name + ".top" }

// Use is the path of the .use file.
func (c Cred) Use() string { return c.DirPath() + "/" + c.Name + ".use" }

// Meta is the path of the .meta file (OAuth credentials).
func (c Cred) Meta() string { return c.DirPath() + "/" + c.Name + ".meta" }

// Key identifies the credential in logs and maps: "<user>/<name>".
func (c Cred) Key() string { return c.User + "/" + c.Name }

// Refreshed is what a provider produced for a credential.
type Refreshed struct {
	// Use is the new content of the .use file (the daemon writes it
	// atomically, root-owned, mode 0400).
	Use []byte
	// Top, when not nil, replaces the .top file (a rotated refresh token).
	Top []byte
}

// Provider serves one kind of credential (Vault, OAuth, local issuer,
// client credentials). The daemon decides which provider serves a .top
// (the multi-credmon rules, see Classifier) and when it is due; the
// provider only fetches. Refresh must honour ctx's deadline, must be safe
// for concurrent use on different credentials, and must never put a token
// in an error message.
type Provider interface {
	// Kind names the provider in logs: "VAULT", "OAUTH", "LOCAL", "CLIENT".
	Kind() string
	// Refresh obtains a fresh access token for c. top is the content of
	// c.Top(). It returns ErrDelete (wrapped) when the credential is
	// definitely dead and must be removed (with its handles), and
	// ErrInvalid (wrapped) for a credential that can never work as it is
	// (bad JSON, bad URL): logged once per change of the .top, not retried
	// until it changes.
	Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error)
	// NextRefresh says when c should be refreshed next, given the content
	// of its .use file and when that was written (its ctime): from the
	// token's real expiry where the provider can read it, else from the
	// refresh interval. The daemon adds jitter and back-off. It is called
	// after every refresh and, at start-up, for the .use files found.
	NextRefresh(c Cred, use []byte, written time.Time) time.Time
}

// Errors a Provider wraps to tell the daemon what to do.
var (
	// ErrDelete: remove the credential's .top and .use (a revoked vault
	// token, confirmed with Vault), and so its handles at the next pass.
	ErrDelete = errors.New("credential is no longer valid")
	// ErrInvalid: the credential cannot work until its .top changes.
	ErrInvalid = errors.New("credential is invalid")
)
