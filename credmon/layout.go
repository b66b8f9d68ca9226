package credmon

import (
	"io/fs"
	"strings"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Layout says where a daemon finds its credentials and what it writes
// next to them. The zero value is the OAuth credential directory's
// (OAuthLayout): <root>/<user>/<name>.top served into <name>.use, mode
// 0400.
type Layout struct {
	// Flat: the credentials are files directly in the credential
	// directory, <root>/<name><In> (the Kerberos credential directory's
	// <user>.cred). The credential directory is then the one "user
	// directory" listed, watched and written through: Cred.User is empty
	// and Cred.Name is the file's name without In.
	Flat bool
	// In is the suffix of the credential files (default ".top").
	In string
	// Out is the suffix of the files written from them (default ".use").
	Out string
	// OutMode is the mode of the Out files (default 0400).
	OutMode fs.FileMode
	// Mark, when not empty, is the suffix of a file <name><Mark> that
	// makes the credential due at once whenever a listing finds it (the
	// provider decides what it means; HTCondor's <user>.mark asks for
	// the user's credentials to be removed). It is removed with the
	// credential on ErrDelete.
	Mark string
}

// OAuthLayout is the layout of condor_credmon_vault.
var OAuthLayout = Layout{In: ".top", Out: ".use", OutMode: 0o400}

// withDefaults fills in the zero fields from OAuthLayout.
func (l Layout) withDefaults() Layout {
	if l.In == "" {
		l.In = OAuthLayout.In
	}
	if l.Out == "" {
		l.Out = OAuthLayout.Out
	}
	if l.OutMode == 0 {
		l.OutMode = OAuthLayout.OutMode
	}
	return l
}

// credName returns the credential name of a file name with suffix In.
func (l *Layout) credName(file string) (string, bool) {
	return strings.CutSuffix(file, l.In)
}

// openUser opens the directory of user: the credential directory itself
// (a new descriptor of root) in the flat layout, else the subdirectory.
func openUser(root *tokenfile.Dir, user string) (*tokenfile.Dir, error) {
	if user == "" {
		return root.Dup()
	}
	return root.OpenDir(user)
}
