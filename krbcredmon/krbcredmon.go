// Package krbcredmon is the Kerberos provider of condor_credmon_krb, the
// credential monitor of HTCondor's "use feature : KRB": it serves the
// flat credential directory SEC_CREDENTIAL_DIRECTORY_KRB, where the
// condor_credd stores each user's ticket-granting ticket as <user>.cred
// (a version 4 MIT FILE credentials cache, the output of
// cred_producer_krb), and writes <user>.cc, the cache the condor_starter
// copies into the user's jobs.
//
// The daemon itself (directory walk, scheduler, signals, pid file,
// CREDMON_COMPLETE, log) is package credmon's, with the flat Layout
// (Layout, Program). This package only decides, per user:
//
//   - <user>.mark present: the user's .cred, .cc and .mark are removed
//     (as HTCondor's condor_credmon_krb does, at once: the schedd marks
//     users gone for ABSENT_OWNER_LIFETIME).
//   - The .cred must be a regular file owned by root (or the daemon's
//     user), not readable or writable by group or others, 1 byte to
//     1 MiB, a FILE cache that decodes, with a ticket-granting ticket for
//     the principal's realm. Anything else is logged once (until the
//     file changes) and the user is skipped; no other user is affected.
//   - A renewable TGT is renewed (a TGS request with the RENEW option to
//     a KDC of the realm, found through krb5.conf) when less than
//     RenewBefore is left (default: half its lifetime), and the renewed
//     cache replaces the .cred (atomically, root, 0600) before the .cc is
//     written from it. If the KDC cannot be reached while the ticket is
//     still valid, the .cc is written from the .cred as it is, so that
//     the starter gets a cache within its 20 s poll, and the renewal is
//     retried later.
//   - An expired TGT that cannot be renewed (no renewable flag, or past
//     its renew-until time) is logged once and left alone: the schedd
//     marks the user when the jobs are gone, and the credd then removes
//     it.
//   - Otherwise the .cc is the .cred's bytes (atomically, root, 0600),
//     which MIT klist and the jobs' GSSAPI read.
//
// A site hook like HTCondor's set_batchtok_cmd (AFS tokens) may be named
// by a knob: it is run for each user before the .cc is written, as
// "<cmd> <user> 86000 <dir>/<user>.cred renew", with a timeout; its exit
// status is logged and otherwise ignored, as in the original.
package krbcredmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"time"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/internal/tokenfile"
	"github.com/vaultcred/gettoken/krb"
)

// Suffixes of the files in the Kerberos credential directory.
const (
	CredSuffix  = ".cred"
	CacheSuffix = ".cc"
	MarkSuffix  = ".mark"
)

// Layout is the Kerberos credential directory's layout for the credmon
// core: <dir>/<user>.cred served into <dir>/<user>.cc (mode 0600), with
// <user>.mark asking for removal.
var Layout = credmon.Layout{Flat: true, In: CredSuffix, Out: CacheSuffix, OutMode: 0o600, Mark: MarkSuffix}

// Knobs read by the provider.
const (
	// KnobRenewBefore: renew a TGT when fewer than this many seconds are
	// left before it expires (default: half its lifetime).
	KnobRenewBefore = "CREDMON_KRB_RENEW_BEFORE"
	// KnobUserCmd names an executable run for each user (a site hook
	// like HTCondor's set_batchtok_cmd); default none.
	KnobUserCmd = "CREDMON_KRB_USER_CMD"
)

// hookTimeout bounds one run of the site hook.
const hookTimeout = 20 * time.Second

// retryWhenUnknown is when a .cc that cannot be read is looked at again.
const retryWhenUnknown = time.Hour

// Provider serves <user>.cred files. The zero value works: half-lifetime
// renewal, krb5.conf from the environment, no hook.
type Provider struct {
	// Log receives the provider's messages (default: discarded).
	Log *slog.Logger
	// Options locate krb5.conf for renewals (Options.ConfigPath, else
	// KRB5_CONFIG, else /etc/krb5.conf).
	Options krb.Options
	// RenewBefore: renew when less than this is left (0: half the
	// ticket's lifetime).
	RenewBefore time.Duration
	// UserCmd, when set, is the site hook run for each user.
	UserCmd string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Renew renews a TGT (default krb.RenewTGT; tests).
	Renew func(ctx context.Context, c *krb.Contents, opts krb.Options) (*krb.Contents, error)
}

// Factory is the provider's credmon.ProviderFactory, configured from the
// knobs.
func Factory() credmon.ProviderFactory {
	return credmon.ProviderFactory{
		Class: credmon.ClassKerberos,
		Knobs: []string{KnobRenewBefore, KnobUserCmd},
		New: func(_ context.Context, env credmon.ProviderEnv) (credmon.Provider, error) {
			p := &Provider{Log: env.Log, UserCmd: env.Knobs.String(KnobUserCmd, "")}
			n, err := env.Knobs.Int(KnobRenewBefore, 0)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s must be a number of seconds", KnobRenewBefore)
			}
			p.RenewBefore = time.Duration(n) * time.Second
			return p, nil
		},
	}
}

// Classify gives every well-named credential of the directory to the
// Kerberos provider (Program.Classify).
func Classify(string) credmon.Decision {
	return credmon.Decision{Class: credmon.ClassKerberos}
}

// Kind implements credmon.Provider.
func (p *Provider) Kind() string { return "KRB" }

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Provider) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// renewAt is when tgt should be renewed.
func (p *Provider) renewAt(tgt *krb.Credential) time.Time {
	before := p.RenewBefore
	if before <= 0 {
		start := tgt.StartTime
		if start.IsZero() {
			start = tgt.AuthTime
		}
		before = tgt.EndTime.Sub(start) / 2
	}
	return tgt.EndTime.Add(-before)
}

// Decode checks a .cred's content: a FILE cache with a TGT for the
// principal's realm.
func Decode(b []byte) (*krb.Contents, *krb.Credential, error) {
	c, err := krb.DecodeFile(b)
	if err != nil {
		return nil, nil, fmt.Errorf("not a Kerberos FILE credentials cache: %w", err)
	}
	tgt := c.TGT()
	if tgt == nil {
		return nil, nil, fmt.Errorf("no ticket-granting ticket for %s in it", c.Principal)
	}
	return c, tgt, nil
}

// Refresh implements credmon.Provider: it turns c's .cred (cred) into
// the content of its .cc, renewing the TGT first when it is due.
func (p *Provider) Refresh(ctx context.Context, c credmon.Cred, cred []byte) (credmon.Refreshed, error) {
	user := c.Name
	dir, done, err := c.OpenDir()
	if err != nil {
		return credmon.Refreshed{}, err
	}
	defer done()
	if _, err := dir.Stat(user + MarkSuffix); err == nil {
		return credmon.Refreshed{}, fmt.Errorf("%w: %s%s exists", credmon.ErrDelete, user, MarkSuffix)
	}
	fi, err := dir.Stat(user + CredSuffix)
	if err != nil {
		return credmon.Refreshed{}, err
	}
	if fi.Mode.Perm()&0o077 != 0 {
		return credmon.Refreshed{}, fmt.Errorf("%w: %s is accessible by group or others (mode %04o)", credmon.ErrInvalid, c.Top(), fi.Mode.Perm())
	}
	contents, tgt, err := Decode(cred)
	if err != nil {
		return credmon.Refreshed{}, fmt.Errorf("%w: %s: %w", credmon.ErrInvalid, c.Top(), err)
	}
	now := p.now()
	var out credmon.Refreshed
	if krb.Renewable(tgt, now) && !now.Before(p.renewAt(tgt)) {
		renew := p.Renew
		if renew == nil {
			renew = krb.RenewTGT
		}
		renewed, err := renew(ctx, contents, p.Options)
		switch {
		case err == nil:
			img := renewed.MarshalFile()
			out.Top = img
			cred = img
			p.log().Info("Renewed the ticket-granting ticket", "user", user, "principal", contents.Principal.String(), "expires", renewed.TGT().EndTime.UTC().Format(time.RFC3339))
		case tgt.EndTime.After(now):
			// Still valid: the jobs get it as it is; retried later.
			p.log().Warn("Cannot renew the ticket-granting ticket; using it as it is", "user", user, "expires", tgt.EndTime.UTC().Format(time.RFC3339), "error", err)
		default:
			return credmon.Refreshed{}, fmt.Errorf("renewing the expired ticket-granting ticket of %s: %w", contents.Principal, err)
		}
	} else if !tgt.EndTime.After(now) {
		return credmon.Refreshed{}, fmt.Errorf("%w: %s: the ticket-granting ticket of %s expired at %s and cannot be renewed", credmon.ErrInvalid, c.Top(), contents.Principal, tgt.EndTime.UTC().Format(time.RFC3339))
	}
	if p.UserCmd != "" {
		p.runHook(ctx, dir, user)
	}
	out.Use = cred
	return out, nil
}

// runHook runs the site hook for user, bounded by hookTimeout.
func (p *Provider) runHook(ctx context.Context, dir *tokenfile.Dir, user string) {
	hctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, p.UserCmd, user, "86000", dir.Join(user+CredSuffix), "renew")
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		msg := stderr.String()
		if i := bytes.IndexByte(stderr.Bytes(), '\n'); i >= 0 {
			msg = msg[:i]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.log().Warn("The user command failed", "user", user, "command", p.UserCmd, "status", strconv.Itoa(ee.ExitCode()), "stderr", msg)
			return
		}
		p.log().Warn("Cannot run the user command", "user", user, "command", p.UserCmd, "error", err)
	}
}

// NextRefresh implements credmon.Provider: when the TGT in the .cc must
// be renewed, or, for one that cannot be, when it expires.
func (p *Provider) NextRefresh(c credmon.Cred, use []byte, written time.Time) time.Time {
	_, tgt, err := Decode(use)
	if err != nil {
		return written.Add(retryWhenUnknown)
	}
	if tgt.Flags&krb.FlagRenewable != 0 && tgt.RenewTill.After(tgt.EndTime) {
		return p.renewAt(tgt)
	}
	return tgt.EndTime
}

// Program is condor_credmon_krb for credmon.Main.
var Program = credmon.Program{
	Name:         "condor_credmon_krb",
	Usage:        "HTCondor credential monitor for Kerberos tickets (use feature : KRB)",
	DefaultName:  "CREDMON_KRB",
	CredDirKnobs: []string{"SEC_CREDENTIAL_DIRECTORY_KRB"},
	DirArg:       true,
	SharedDir:    true,
	LogKnobs:     []string{"SEC_CREDENTIAL_MONITOR_KRB_LOG"},
	Layout:       Layout,
	Classify:     Classify,
}
