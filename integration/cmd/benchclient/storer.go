package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/stack"
)

// benchStorer times condor_vault_storer for three services whose tokens
// are all valid (the common case of a submit: one Vault read and one
// condor_store_cred query per service, nothing stored) next to curl doing
// the same three Vault reads in one process. Goal: within 1.5x of curl.
func benchStorer(ctx context.Context, s *stack.Stack, bin, dir string, runs int) error {
	cdir, err := os.MkdirTemp("", "condor-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cdir)
	server := strings.TrimPrefix(s.Vault.Addr, "https://")
	c, err := condor.Start(ctx, cdir, s.LogDir, map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a " + server + " --cafile " + s.Certs.CAFile,
	})
	if err != nil {
		return err
	}
	defer c.Stop()
	id := "bench"
	run := filepath.Join(dir, "storer-run")
	os.MkdirAll(run, 0o700)
	services := []struct{ service, issuer, role string }{
		{"default", "default", "default"}, {"cilogon", "cilogon", "default"}, {"default_readonly", "default", "readonly"},
	}
	var curlArgs []string
	for i, sv := range services {
		tok, path, err := s.LoginAndStore(ctx, sv.issuer, sv.role, stack.Alice.Name)
		if err != nil {
			return err
		}
		vt := "/tmp/vt_" + id + "-" + sv.service
		defer os.Remove(vt)
		hdr := filepath.Join(dir, "hdr-"+sv.service)
		if err := os.WriteFile(vt, []byte(tok+"\n"), 0o600); err != nil {
			return err
		}
		ck := filepath.Join(dir, "home", ".config", "htgettoken", "credkey-"+sv.issuer+"-"+sv.role)
		if err := os.WriteFile(ck, []byte("alice\n"), 0o600); err != nil {
			return err
		}
		os.WriteFile(hdr, []byte("X-Vault-Token: "+tok+"\n"), 0o600)
		// What an earlier submit stored in the credd.
		user := filepath.Join(c.CredDir, "root")
		os.MkdirAll(user, 0o700)
		top := fmt.Sprintf("{\n  \"vault_token\": \"%s\",\n  \"vault_url\": \"%s/v1/%s\"\n}\n", tok, s.Vault.Addr, path)
		if err := os.WriteFile(filepath.Join(user, sv.service+".top"), []byte(top), 0o600); err != nil {
			return err
		}
		if i > 0 {
			curlArgs = append(curlArgs, "--next")
		}
		curlArgs = append(curlArgs, "-sSf", "--cacert", s.Certs.CAFile, "-H", "@"+hdr, "-o", "/dev/null",
			s.Vault.Addr+"/v1/"+path+"?minimum_seconds=60")
	}
	defer os.Remove("/tmp/vt_" + id)
	env := append(os.Environ(), c.Env...)
	env = append(env, "CONDOR_VAULT_STORER_ID="+id, "XDG_RUNTIME_DIR="+run, "HOME="+filepath.Join(dir, "home"))
	storer := filepath.Join(bin, "condor_vault_storer") + " default cilogon default_readonly"
	// One run first: it must succeed and store nothing.
	cmd := c.Command(ctx, filepath.Join(bin, "condor_vault_storer"), "default", "cilogon", "default_readonly")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		return fmt.Errorf("storer: %v\n%s", err, out)
	}
	cmds := []command{
		{"curl (three Vault reads, one process)", "curl " + strings.Join(curlArgs, " ")},
		{"condor_vault_storer (three services)", storer},
	}
	med, err := hyperfine(filepath.Join(dir, "hyperfine-storer.json"), runs, env, cmds)
	if err != nil {
		return err
	}
	fmt.Printf("\nstorer, three services with valid tokens (hyperfine -N, median of %d):\n", runs)
	for _, c := range cmds {
		fmt.Printf("  %-42s %7.2f ms\n", c.name, med[c.name])
	}
	ratio := med[cmds[1].name] / med[cmds[0].name]
	fmt.Printf("storer / curl = %.2f (goal <= 1.50): %s\n", ratio, verdict(ratio <= 1.5))
	return nil
}
