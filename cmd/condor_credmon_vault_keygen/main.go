// Command condor_credmon_vault_keygen creates the signing key pair of
// condor_credmon_vault's local SciTokens issuer and prints the JSON Web
// Key Set an administrator publishes for it. It replaces
// "scitokens-admin-create-key --create-keys --pem-private" and
// "--jwks-public" for HTCondor's local issuer.
//
//	Usage: condor_credmon_vault_keygen [-provider NAME] [-type ec|rsa]
//	         [-private FILE] [-public FILE] [-kid ID] [-force]
//	         [-issuer URL] [-jwks-uri URL] [-openid-configuration]
//
// Paths, key id and issuer default to the HTCondor configuration:
// LOCAL_CREDMON_[<NAME>_]PRIVATE_KEY (/etc/condor/scitokens-private.pem),
// LOCAL_CREDMON_[<NAME>_]PUBLIC_KEY (/etc/condor/scitokens.pem),
// LOCAL_CREDMON_[<NAME>_]KEY_ID (local) and LOCAL_CREDMON_[<NAME>_]ISSUER,
// read with condor_config_val (_CONDOR_<KNOB> environment variables
// override; without HTCondor installed the defaults are used).
//
// When the private key file does not exist, a new key is made (EC P-256
// signing with ES256 by default, -type rsa for a 2048-bit RSA key signing
// with RS256) and written with mode 0600, its public key (PEM) with mode
// 0644, each atomically. An existing private key is kept, unless -force,
// and its public key file is written if missing. Either way the JWKS of
// the key is printed on standard output; publish it at the URL that the
// issuer's /.well-known/openid-configuration names as "jwks_uri". With
// -openid-configuration that document is printed instead ("jwks_uri"
// from -jwks-uri, default <issuer>/.well-known/issuer.jwks).
//
// Exit status: 0 on success, 2 on a usage error, 1 on any other error.
package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/internal/htcondor"
)

const prog = "condor_credmon_vault_keygen"

// knobGetter reads HTCondor knobs (htcondor.Config.Get).
type knobGetter func(ctx context.Context, knobs ...string) (map[string]string, error)

func main() {
	cfg := htcondor.New(htcondor.Options{})
	os.Exit(run(context.Background(), os.Args[1:], cfg.Get, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, knobs knobGetter, stdout, stderr io.Writer) int {
	var (
		provider, keyType, privPath, pubPath, kid, issuer, jwksURI string
		force, openid                                              bool
	)
	// urfave/cli, as the credmon's own command line; no short-option
	// grouping, so the single-dash long options (-private FILE) keep
	// working.
	ran := false
	app := &cli.App{
		Name:            prog,
		Usage:           "create the local SciTokens issuer's key pair and print its JWKS",
		HideHelpCommand: true,
		HideVersion:     true,
		Writer:          stdout,
		ErrWriter:       stderr,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    func(_ *cli.Context, err error, _ bool) error { return err },
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "provider", Usage: "local issuer provider `NAME` whose LOCAL_CREDMON_<NAME>_* knobs apply", Destination: &provider},
			&cli.StringFlag{Name: "type", Value: "ec", Usage: "key `TYPE` for a new key: ec (P-256, ES256) or rsa (2048 bits, RS256)", Destination: &keyType},
			&cli.StringFlag{Name: "private", Usage: "private key `FILE` (default LOCAL_CREDMON_PRIVATE_KEY)", Destination: &privPath},
			&cli.StringFlag{Name: "public", Usage: "public key `FILE` (default LOCAL_CREDMON_PUBLIC_KEY)", Destination: &pubPath},
			&cli.StringFlag{Name: "kid", Usage: "key `ID` in the JWKS (default LOCAL_CREDMON_KEY_ID, else \"local\")", Destination: &kid},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing key pair", Destination: &force},
			&cli.StringFlag{Name: "issuer", Usage: "issuer `URL` (default LOCAL_CREDMON_ISSUER)", Destination: &issuer},
			&cli.StringFlag{Name: "jwks-uri", Usage: "`URL` where the JWKS is published (default <issuer>/.well-known/issuer.jwks)", Destination: &jwksURI},
			&cli.BoolFlag{Name: "openid-configuration", Usage: "print the issuer's openid-configuration document instead of the JWKS", Destination: &openid},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			ran = true
			return nil
		},
	}
	if err := app.Run(append([]string{prog}, args...)); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nusage: %s [-provider NAME] [-type ec|rsa] [-private FILE] [-public FILE] [-kid ID] [-force] [-issuer URL] [-jwks-uri URL] [-openid-configuration]\n", prog, err, prog)
		return 2
	}
	if !ran {
		return 0 // -h
	}
	kind := credmon.KeyType(strings.ToLower(keyType))
	if kind != credmon.KeyEC && kind != credmon.KeyRSA {
		fmt.Fprintf(stderr, "%s: -type must be ec or rsa\n", prog)
		return 2
	}
	if provider != "" && !validName(provider) {
		fmt.Fprintf(stderr, "%s: -provider %q is not a valid provider name\n", prog, provider)
		return 2
	}

	conf := resolveKnobs(ctx, knobs, provider, stderr)
	pick := func(flagVal, knob, def string) string {
		if flagVal != "" {
			return flagVal
		}
		if v := conf[knob]; v != "" {
			return v
		}
		return def
	}
	priv := pick(privPath, "PRIVATE_KEY", credmon.DefaultLocalPrivateKey)
	pub := pick(pubPath, "PUBLIC_KEY", credmon.DefaultLocalPublicKey)
	keyID := pick(kid, "KEY_ID", credmon.DefaultLocalKeyID)
	iss := pick(issuer, "ISSUER", "")
	if openid && iss == "" {
		fmt.Fprintf(stderr, "%s: -openid-configuration needs -issuer or LOCAL_CREDMON_ISSUER\n", prog)
		return 2
	}

	key, err := obtainKey(priv, pub, kind, force, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	jwks, err := credmon.PublicJWKS(key.Public(), keyID)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	uri := jwksURI
	if uri == "" && iss != "" {
		uri = strings.TrimRight(iss, "/") + "/.well-known/issuer.jwks"
	}
	if openid {
		doc, err := credmon.OpenIDConfiguration(iss, uri)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			return 1
		}
		_, err = stdout.Write(doc)
		return writeStatus(err, stderr)
	}
	if _, err := stdout.Write(jwks); err != nil {
		return writeStatus(err, stderr)
	}
	if iss != "" {
		fmt.Fprintf(stderr, "Publish the JWKS above at %s and, at %s/.well-known/openid-configuration,\n"+
			"{\"issuer\": %q, \"jwks_uri\": %q} (see -openid-configuration).\n",
			uri, strings.TrimRight(iss, "/"), iss, uri)
	} else {
		fmt.Fprintf(stderr, "Publish the JWKS above at the jwks_uri of the issuer's /.well-known/openid-configuration.\n")
	}
	return 0
}

func writeStatus(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "%s: writing the output: %v\n", prog, err)
		return 1
	}
	return 0
}

// obtainKey creates or loads the private key and makes sure the public
// key file exists.
func obtainKey(priv, pub string, kind credmon.KeyType, force bool, stderr io.Writer) (crypto.Signer, error) {
	if force {
		key, err := credmon.GenerateSigningKey(kind)
		if err != nil {
			return nil, err
		}
		if err := credmon.WriteKeyPair(key, priv, pub); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "Created a new %s key pair: %s (private), %s (public).\n", strings.ToUpper(string(kind)), priv, pub)
		return key, nil
	}
	created, err := credmon.EnsureKeyPair(priv, pub, kind)
	if err != nil {
		return nil, err
	}
	key, err := credmon.LoadSigningKey(priv)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "Created a new %s key pair: %s (private), %s (public).\n", strings.ToUpper(string(kind)), priv, pub)
	} else {
		fmt.Fprintf(stderr, "Using the existing private key %s (-force replaces it).\n", priv)
	}
	return key, nil
}

// resolveKnobs reads the LOCAL_CREDMON_[<provider>_]X knobs, keyed by X.
// A failure to read the configuration is reported and ignored.
func resolveKnobs(ctx context.Context, get knobGetter, provider string, stderr io.Writer) map[string]string {
	out := map[string]string{}
	if get == nil {
		return out
	}
	xs := []string{"PRIVATE_KEY", "PUBLIC_KEY", "KEY_ID", "ISSUER"}
	if !knobSafe(provider) {
		// A name with "-" cannot be part of a knob name: only the
		// generic knobs can apply.
		provider = ""
	}
	var names []string
	for _, x := range xs {
		if provider != "" {
			names = append(names, "LOCAL_CREDMON_"+provider+"_"+x)
		}
		names = append(names, "LOCAL_CREDMON_"+x)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	vals, err := get(ctx, names...)
	if err != nil {
		if !errors.Is(err, htcondor.ErrNotInstalled) {
			fmt.Fprintf(stderr, "%s: warning: cannot read the HTCondor configuration, using defaults: %v\n", prog, err)
		}
		return out
	}
	for _, x := range xs {
		if v := vals["LOCAL_CREDMON_"+provider+"_"+x]; provider != "" && v != "" {
			out[x] = v
		} else if v := vals["LOCAL_CREDMON_"+x]; v != "" {
			out[x] = v
		}
	}
	return out
}

// validName accepts the provider names the credd allows (letters,
// digits, "-", "_", "." here; "+" and "=" cannot be part of knob names).
func validName(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}

// knobSafe reports a name that can be part of a knob name.
func knobSafe(s string) bool {
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") == ""
}
