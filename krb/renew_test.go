package krb

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRenewTGTRefusesWithoutAsking: no TGT, or one that cannot be
// renewed, is an error before any KDC is asked (no krb5.conf is read).
func TestRenewTGTRefusesWithoutAsking(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	alice := Principal{NameType: 1, Realm: "R", Components: []string{"alice"}}
	tgt := func(flags uint32, till time.Time) *Contents {
		return &Contents{Principal: alice, Credentials: []Credential{{
			Client: alice, Server: Principal{NameType: 2, Realm: "R", Components: []string{"krbtgt", "R"}},
			EndTime: now.Add(time.Hour), RenewTill: till, Flags: flags, Ticket: []byte("t"),
		}}}
	}
	cases := []struct {
		name string
		c    *Contents
		want error
	}{
		{"no TGT", &Contents{Principal: alice}, ErrNoCredentials},
		{"not renewable", tgt(FlagInitial, now.Add(time.Hour)), ErrNotRenewable},
		{"past renew-until", tgt(FlagRenewable, now.Add(-time.Second)), ErrNotRenewable},
	}
	for _, tc := range cases {
		_, err := RenewTGT(context.Background(), tc.c, Options{ConfigPath: "/nonexistent/krb5.conf", Now: func() time.Time { return now }})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
