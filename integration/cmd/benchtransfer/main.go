// Command benchtransfer compares gettoken_transfer_plugin with curl against
// the same real XRootD server (package xrootd) with the same token: one
// large download and upload (throughput and peak RSS), and many small
// downloads (one plugin invocation vs one curl run per file vs one curl
// run with every URL). It prints a short report section; it needs root
// (XRootD's mount namespace) and curl.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vaultcred/gettoken/integration/xrootd"
	"github.com/vaultcred/gettoken/internal/classad"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding gettoken_transfer_plugin")
	sizeMiB := flag.Int("size-mib", 1024, "size of the large file in MiB")
	n := flag.Int("n", 1000, "number of small files")
	small := flag.Int("small-kib", 10, "size of each small file in KiB")
	runs := flag.Int("runs", 3, "repetitions of each large transfer (median reported)")
	flag.StringVar(&pluginConfig, "config", "/dev/null", "the plugin's configuration file")
	flag.Parse()
	if err := run(*bin, *sizeMiB, *n, *small, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "benchtransfer:", err)
		os.Exit(1)
	}
}

var pluginConfig string

type measure struct {
	wall time.Duration
	cpu  time.Duration // user + system
	rss  int64         // KiB
}

func timed(cmd *exec.Cmd) (measure, error) {
	start := time.Now()
	out, err := cmd.CombinedOutput()
	m := measure{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.rss = ru.Maxrss
			m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return m, fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Path), err, tail(out))
	}
	return m, nil
}

func tail(b []byte) string {
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

func median(ms []measure) measure {
	sort.Slice(ms, func(i, j int) bool { return ms[i].wall < ms[j].wall })
	return ms[len(ms)/2]
}

func run(bin string, sizeMiB, n, smallKiB, runs int) error {
	if miss := xrootd.Missing(); miss != nil {
		return fmt.Errorf("missing: %v", miss)
	}
	plugin, err := filepath.Abs(filepath.Join(bin, "gettoken_transfer_plugin"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(plugin); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchtransfer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x, err := xrootd.Start(ctx, filepath.Join(dir, "xrd"))
	if err != nil {
		if x != nil {
			x.DumpLog(os.Stderr)
			x.Stop()
		}
		return err
	}
	defer x.Stop()
	tok, err := x.Mint("alice", "read:/user/{username} write:/user/{username}", time.Now(), time.Hour)
	if err != nil {
		return err
	}
	creds := filepath.Join(dir, "creds")
	work := filepath.Join(dir, "work")
	for _, d := range []string{creds, work, filepath.Join(x.Data, "user/alice/small")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	os.Chown(filepath.Join(x.Data, "user/alice"), 65534, 65534)
	os.Chown(filepath.Join(x.Data, "user/alice/small"), 65534, 65534)
	if err := os.WriteFile(filepath.Join(creds, "store.use"), []byte(`{"access_token":"`+tok+`"}`+"\n"), 0o400); err != nil {
		return err
	}
	// curl reads the header from a file, so the token is not in its argv.
	hdr := filepath.Join(dir, "auth.hdr")
	if err := os.WriteFile(hdr, []byte("Authorization: Bearer "+tok+"\n"), 0o600); err != nil {
		return err
	}
	env := append(os.Environ(), "_CONDOR_CREDS="+creds, "X509_CERT_DIR="+filepath.Dir(x.Certs.CAFile),
		"GETTOKEN_TRANSFER_CONFIG="+pluginConfig)
	pluginRun := func(upload bool, files map[string]string) *exec.Cmd {
		var b strings.Builder
		for u, l := range files {
			a := classad.New()
			a.SetString("Url", u)
			a.SetString("LocalFileName", l)
			b.WriteString(a.String())
		}
		in := filepath.Join(work, ".in")
		os.WriteFile(in, []byte(b.String()), 0o644)
		args := []string{"-infile", in, "-outfile", filepath.Join(work, ".out")}
		if upload {
			args = append(args, "-upload")
		}
		cmd := exec.Command(plugin, args...)
		cmd.Env = env
		return cmd
	}
	curl := func(args ...string) *exec.Cmd {
		return exec.Command("curl", append([]string{"-sS", "--fail", "--cacert", x.Certs.CAFile, "-H", "@" + hdr}, args...)...)
	}

	// The large file, written in 1 MiB blocks of a pattern.
	big := filepath.Join(x.Data, "user/alice/big.dat")
	if err := writePattern(big, sizeMiB); err != nil {
		return err
	}
	os.Chown(big, 65534, 65534)
	bigURL := x.Base + "/user/alice/big.dat"
	local := filepath.Join(work, "big.dat")
	var pd, cd, pu, cu []measure
	for i := 0; i < runs; i++ {
		os.Remove(local)
		m, err := timed(pluginRun(false, map[string]string{"store+" + bigURL: local}))
		if err != nil {
			return err
		}
		pd = append(pd, m)
		os.Remove(local)
		if m, err = timed(curl("-o", local, bigURL)); err != nil {
			return err
		}
		cd = append(cd, m)
		if m, err = timed(pluginRun(true, map[string]string{"store+davs" + strings.TrimPrefix(x.Base, "https") + "/user/alice/up-p.dat": local})); err != nil {
			return err
		}
		pu = append(pu, m)
		if m, err = timed(curl("-T", local, x.Base+"/user/alice/up-c.dat")); err != nil {
			return err
		}
		cu = append(cu, m)
	}
	mb := float64(sizeMiB)
	report := func(what string, p, c measure) {
		pr, cr := mb/p.wall.Seconds(), mb/c.wall.Seconds()
		fmt.Printf("%-9s plugin %7.1f MiB/s (RSS %3d MiB)  curl %7.1f MiB/s (RSS %3d MiB)  ratio %.2fx\n",
			what, pr, p.rss/1024, cr, c.rss/1024, pr/cr)
	}
	report("download", median(pd), median(cd))
	report("upload", median(pu), median(cu))
	os.Remove(local)

	// Many small files.
	smallFiles := map[string]string{}
	var cfg strings.Builder
	block := make([]byte, smallKiB<<10)
	for i := range block {
		block[i] = byte(i)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%04d", i)
		p := filepath.Join(x.Data, "user/alice/small", name)
		if err := os.WriteFile(p, block, 0o644); err != nil {
			return err
		}
		os.Chown(p, 65534, 65534)
		u := x.Base + "/user/alice/small/" + name
		smallFiles["store+"+u] = filepath.Join(work, "p-"+name)
		fmt.Fprintf(&cfg, "url = %q\noutput = %q\n", u, filepath.Join(work, "m-"+name))
	}
	mp, err := timed(pluginRun(false, smallFiles))
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%04d", i)
		if _, err := timed(curl("-o", filepath.Join(work, "c-"+name), x.Base+"/user/alice/small/"+name)); err != nil {
			return err
		}
	}
	each := time.Since(start)
	cfgFile := filepath.Join(dir, "curl.cfg")
	os.WriteFile(cfgFile, []byte(cfg.String()), 0o600)
	mm, err := timed(curl("-K", cfgFile))
	if err != nil {
		return err
	}
	fmt.Printf("%d x %d KiB: plugin one run %.2f s (CPU %.2f s); curl %d runs %.2f s (%.1fx); curl one run, all URLs %.2f s (CPU %.2f s) (%.1fx)\n",
		n, smallKiB, mp.wall.Seconds(), mp.cpu.Seconds(), n, each.Seconds(), each.Seconds()/mp.wall.Seconds(), mm.wall.Seconds(), mm.cpu.Seconds(), mm.wall.Seconds()/mp.wall.Seconds())
	return nil
}

func writePattern(path string, mib int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	for i := 0; i < mib; i++ {
		block[0] = byte(i)
		if _, err := f.Write(block); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
