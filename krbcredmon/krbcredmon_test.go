package krbcredmon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/krb"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const realm = "TEST.REALM"

// cache is a cache for alice with a TGT valid from t0 for life, renewable
// until renewTill (zero: not renewable), and a configuration entry.
func cache(life time.Duration, renewTill time.Time) *krb.Contents {
	alice := krb.Principal{NameType: 1, Realm: realm, Components: []string{"alice"}}
	tgt := krb.Credential{
		Client: alice, Server: krb.Principal{NameType: 2, Realm: realm, Components: []string{"krbtgt", realm}},
		KeyType: 18, Key: bytes.Repeat([]byte{1}, 32),
		AuthTime: t0, StartTime: t0, EndTime: t0.Add(life), RenewTill: renewTill,
		Flags: krb.FlagInitial, Ticket: []byte("ticket"),
	}
	if !renewTill.IsZero() {
		tgt.Flags |= krb.FlagRenewable
	}
	conf := krb.Credential{Client: alice, Server: krb.Principal{Realm: "X-CACHECONF:", Components: []string{"krb5_ccache_conf_data", "fast_avail"}}, Ticket: []byte("yes")}
	return &krb.Contents{Principal: alice, Credentials: []krb.Credential{conf, tgt}}
}

// setup writes b as <dir>/alice.cred with mode and returns its Cred.
func setup(t *testing.T, b []byte, mode os.FileMode) credmon.Cred {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "alice.cred")
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return credmon.Cred{Root: dir, Name: "alice"}
}

// renewer is a fake KDC: it moves the TGT's times by step, or fails.
type renewer struct {
	calls int
	err   error
}

func (r *renewer) renew(_ context.Context, c *krb.Contents, _ krb.Options) (*krb.Contents, error) {
	r.calls++
	if r.err != nil {
		return nil, r.err
	}
	out := *c
	out.Credentials = append([]krb.Credential(nil), c.Credentials...)
	tgt := out.TGT()
	tgt.StartTime = tgt.StartTime.Add(time.Hour)
	tgt.EndTime = tgt.EndTime.Add(time.Hour)
	tgt.Ticket = []byte("renewed")
	return &out, nil
}

func TestRefresh(t *testing.T) {
	week := t0.Add(7 * 24 * time.Hour)
	cases := []struct {
		name      string
		contents  *krb.Contents
		raw       []byte
		mode      os.FileMode
		mark      bool
		now       time.Time
		renewErr  error
		wantErr   error // matched with errors.Is; nil = success
		wantRenew bool  // a renewal was asked for and its result written
		wantCalls int
	}{
		{name: "fresh: copied as it is", contents: cache(10*time.Hour, week), now: t0.Add(time.Hour)},
		{name: "past half its life: renewed", contents: cache(10*time.Hour, week), now: t0.Add(6 * time.Hour), wantRenew: true, wantCalls: 1},
		{name: "KDC down, still valid: copied", contents: cache(10*time.Hour, week), now: t0.Add(6 * time.Hour), renewErr: krb.ErrKDCUnreachable, wantCalls: 1},
		{name: "KDC down, expired: failure to retry", contents: cache(10*time.Hour, week), now: t0.Add(11 * time.Hour), renewErr: krb.ErrKDCUnreachable, wantErr: krb.ErrKDCUnreachable, wantCalls: 1},
		{name: "expired, not renewable", contents: cache(10*time.Hour, time.Time{}), now: t0.Add(11 * time.Hour), wantErr: credmon.ErrInvalid},
		{name: "expired past renew-until", contents: cache(10*time.Hour, t0.Add(10*time.Hour)), now: t0.Add(11 * time.Hour), wantErr: credmon.ErrInvalid},
		{name: "not renewable, valid: copied", contents: cache(10*time.Hour, time.Time{}), now: t0.Add(9 * time.Hour)},
		{name: "marked: removed", contents: cache(10*time.Hour, week), mark: true, now: t0, wantErr: credmon.ErrDelete},
		{name: "group-readable", contents: cache(10*time.Hour, week), mode: 0o640, now: t0, wantErr: credmon.ErrInvalid},
		{name: "not a cache", raw: []byte("hello"), now: t0, wantErr: credmon.ErrInvalid},
		{name: "truncated", raw: cache(10*time.Hour, week).MarshalFile()[:60], now: t0, wantErr: credmon.ErrInvalid},
		{name: "no TGT", contents: &krb.Contents{Principal: cache(0, week).Principal}, now: t0, wantErr: credmon.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.raw
			if b == nil {
				b = tc.contents.MarshalFile()
			}
			mode := tc.mode
			if mode == 0 {
				mode = 0o600
			}
			c := setup(t, b, mode)
			if tc.mark {
				os.WriteFile(filepath.Join(c.Root, "alice.mark"), nil, 0o600)
			}
			r := &renewer{err: tc.renewErr}
			p := &Provider{Now: func() time.Time { return tc.now }, Renew: r.renew}
			out, err := p.Refresh(context.Background(), c, b)
			if r.calls != tc.wantCalls {
				t.Errorf("%d renewals, want %d", r.calls, tc.wantCalls)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantRenew {
				if out.Top != nil || !bytes.Equal(out.Use, b) {
					t.Error("the .cc is not the .cred, or the .cred is rewritten")
				}
				return
			}
			got, err := krb.DecodeFile(out.Use)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Top, out.Use) {
				t.Error("the renewed cache is not written to both .cred and .cc")
			}
			if string(got.TGT().Ticket) != "renewed" || len(got.Credentials) != 2 || !got.Credentials[0].IsConfig() {
				t.Errorf("renewed cache: %+v", got.Credentials)
			}
		})
	}
}

func TestNextRefresh(t *testing.T) {
	week := t0.Add(7 * 24 * time.Hour)
	written := t0.Add(time.Minute)
	cases := []struct {
		name   string
		use    []byte
		before time.Duration
		want   time.Time
	}{
		{"renewable: at half its life", cache(10*time.Hour, week).MarshalFile(), 0, t0.Add(5 * time.Hour)},
		{"renewable: RenewBefore", cache(10*time.Hour, week).MarshalFile(), time.Hour, t0.Add(9 * time.Hour)},
		{"not renewable: at its end", cache(10*time.Hour, time.Time{}).MarshalFile(), 0, t0.Add(10 * time.Hour)},
		{"renew-until reached: at its end", cache(10*time.Hour, t0.Add(10*time.Hour)).MarshalFile(), 0, t0.Add(10 * time.Hour)},
		{"unreadable .cc: an hour later", []byte("junk"), 0, written.Add(time.Hour)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Provider{RenewBefore: tc.before}
			if got := p.NextRefresh(credmon.Cred{Name: "alice"}, tc.use, written); !got.Equal(tc.want) {
				t.Errorf("NextRefresh = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUserCmd: the site hook gets the user, the period, the .cred's path
// and "renew"; its failure does not stop the .cc.
func TestUserCmd(t *testing.T) {
	b := cache(10*time.Hour, t0.Add(7*24*time.Hour)).MarshalFile()
	c := setup(t, b, 0o600)
	out := filepath.Join(t.TempDir(), "args")
	hook := filepath.Join(t.TempDir(), "hook")
	os.WriteFile(hook, []byte("#!/bin/sh\necho \"$@\" > "+out+"\nexit 3\n"), 0o755)
	p := &Provider{Now: func() time.Time { return t0 }, UserCmd: hook}
	res, err := p.Refresh(context.Background(), c, b)
	if err != nil || !bytes.Equal(res.Use, b) {
		t.Fatalf("Refresh: %v", err)
	}
	got, _ := os.ReadFile(out)
	want := "alice 86000 " + filepath.Join(c.Root, "alice.cred") + " renew\n"
	if string(got) != want {
		t.Errorf("hook args %q, want %q", got, want)
	}
}

// FuzzDecode: no .cred content panics the decoder.
func FuzzDecode(f *testing.F) {
	f.Add(cache(10*time.Hour, t0.Add(time.Hour)).MarshalFile())
	f.Add([]byte{5, 4, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		Decode(b)
	})
}
