package stack

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKDCAndLDAP(t *testing.T) {
	requireTools(t, "krb5kdc", "slapd")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	k, err := StartKDC(ctx, filepath.Join(dir, "kdc"), dir, []KDCUser{{"alice", "alice-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	cc := "FILE:" + filepath.Join(dir, "cc")
	if err := k.Kinit(ctx, "alice", cc, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := k.Kinit(ctx, "nobody", cc, 0); err == nil {
		t.Fatal("kinit of an unknown user succeeded")
	}
	l, err := StartLDAP(ctx, filepath.Join(dir, "ldap"), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	out, err := exec.CommandContext(ctx, "ldapwhoami", "-x", "-H", l.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "anonymous") {
		t.Fatalf("ldapwhoami: %v: %s", err, out)
	}
	pids := []int{k.Proc.Pid(), l.Proc.Pid()}
	k.Stop()
	l.Stop()
	for _, p := range pids {
		if PidAlive(p) {
			t.Errorf("pid %d still alive after Stop", p)
		}
	}
}
