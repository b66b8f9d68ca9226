// Command condor_credmon_webserver is the OAuth login web application of
// an HTCondor access point: the replacement for condor_credmon_oauth's
// Flask application. condor_submit prints a link
// <CREDMON_WEB_PREFIX>/key/<key>; the user opens it, logs in at each
// provider, and the tokens land in SEC_CREDENTIAL_DIRECTORY_OAUTH for the
// credmon to keep fresh.
//
//	condor_credmon_webserver [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE | --no-tls]
//
// Exit statuses: 0 stopped by SIGTERM/SIGINT, 1 configuration or start-up
// error, 2 usage error. See package github.com/vaultcred/gettoken/webapp
// and docs/webapp.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/internal/htcondor"
	"github.com/vaultcred/gettoken/webapp"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// sweepInterval is how often stale key files and idle sessions go.
const sweepInterval = 10 * time.Minute

type flags struct {
	listen, cert, key string
	noTLS, debug      bool
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	prog := "condor_credmon_webserver"
	var fl flags
	ran := false
	app := &cli.App{
		Name:            prog,
		Usage:           "the OAuth login web application of an HTCondor access point",
		UsageText:       prog + " [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE | --no-tls] [--debug]",
		Description:     "Configured by HTCondor knobs (condor_config_val, _CONDOR_<KNOB>): CREDMON_WEB_PREFIX,\nSEC_CREDENTIAL_DIRECTORY_OAUTH, LOCAL_CREDMON_ISSUER/_PUBLIC_KEY/_KEY_ID, CREDMON_WEB_LISTEN,\nCREDMON_WEB_CERTIFICATE_FILE, CREDMON_WEB_KEY_FILE, CREDMON_WEB_STORE_CLIENT_SECRET.\nFlags override the knobs. See docs/webapp.md.",
		HideHelpCommand: true,
		HideVersion:     true,
		Writer:          stdout,
		ErrWriter:       stderr,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    func(_ *cli.Context, err error, _ bool) error { return err },
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "listen on `HOST:PORT` (default CREDMON_WEB_LISTEN, else :443, or 127.0.0.1:8080 with --no-tls)", Destination: &fl.listen},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate chain `FILE` (PEM; default CREDMON_WEB_CERTIFICATE_FILE)", Destination: &fl.cert},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS private key `FILE` (PEM; default CREDMON_WEB_KEY_FILE)", Destination: &fl.key},
			&cli.BoolFlag{Name: "no-tls", Usage: "serve plain HTTP, for running behind a TLS-terminating proxy", Destination: &fl.noTLS},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages", Destination: &fl.debug},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			ran = true
			return nil
		},
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nusage: %s\n", prog, err, app.UsageText)
		return exitUsage
	}
	if !ran {
		return exitOK
	}
	if fl.noTLS && (fl.cert != "" || fl.key != "") {
		fmt.Fprintf(stderr, "%s: --no-tls and --tls-cert/--tls-key exclude each other\n", prog)
		return exitUsage
	}
	level := slog.LevelInfo
	if fl.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(fl, log); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return exitFailure
	}
	return exitOK
}

func serve(fl flags, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	knobs := credmon.NewKnobs(htcondor.New(htcondor.Options{}))
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	set, err := webapp.LoadSettings(lctx, knobs)
	cancel()
	if err != nil {
		return err
	}
	if fl.listen == "" {
		fl.listen = set.Listen
	}
	if fl.cert == "" && !fl.noTLS {
		fl.cert = set.CertFile
	}
	if fl.key == "" && !fl.noTLS {
		fl.key = set.KeyFile
	}
	if fl.listen == "" {
		fl.listen = ":443"
		if fl.noTLS {
			fl.listen = "127.0.0.1:8080"
		}
	}
	if !fl.noTLS && (fl.cert == "" || fl.key == "") {
		return errors.New("TLS needs a certificate and a key (--tls-cert/--tls-key or CREDMON_WEB_CERTIFICATE_FILE/CREDMON_WEB_KEY_FILE); use --no-tls behind a TLS-terminating proxy")
	}
	store, err := webapp.OpenDirStore(set.CredDir)
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := set.App
	cfg.Store, cfg.Log = store, log
	cfg.ParseAds = webapp.ParseKeyAds
	if pub, err := webapp.LoadPublicKey(set.PublicKeyFile); err == nil {
		cfg.PublicKey = pub
	} else if errors.Is(err, os.ErrNotExist) {
		log.Info("no local issuer public key; the discovery routes answer 404", "file", set.PublicKeyFile)
	} else {
		return err
	}
	app, err := webapp.New(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      webapp.DefaultTokenTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if !fl.noTLS {
		cert, err := tls.LoadX509KeyPair(fl.cert, fl.key)
		if err != nil {
			return fmt.Errorf("loading the TLS certificate %s: %w", filepath.Base(fl.cert), err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", fl.listen)
	if err != nil {
		return err
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	app.Sweep()
	go func() {
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				app.Sweep()
			}
		}
	}()
	scheme := "https"
	if fl.noTLS {
		scheme = "http"
	}
	log.Info("listening", "address", ln.Addr().String(), "scheme", scheme, "prefix", cfg.Prefix, "cred_dir", set.CredDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	return srv.Shutdown(sctx)
}
