// Command benchwebapp measures condor_credmon_webserver under 100
// concurrent sessions and prints a report: median and p99 latency of the
// key page (GET /key/<key>, then the live page it redirects to) and of the
// return endpoint (code exchange at an in-process token endpoint, three
// files written, .meta and .top fsynced), next to GETs of a small
// file from a minimal static file server (this program re-run with
// -static) under the same 100-client closed loop, and both servers' peak
// RSS. Plain HTTP on loopback for both, so
// TLS is not measured. The provider's own time is near zero (in process).
//
// Goals (issue 11): p99 < 20 ms, RSS < 30 MiB.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

func main() {
	bin := flag.String("bin", "", "directory holding condor_credmon_webserver (required)")
	sessions := flag.Int("sessions", 100, "concurrent sessions")
	rounds := flag.Int("rounds", 5, "logins per session")
	static := flag.String("static", "", "internal: serve this directory on -addr")
	addr := flag.String("addr", "", "internal: listen address for -static")
	flag.Parse()
	if *static != "" {
		fmt.Fprintln(os.Stderr, http.ListenAndServe(*addr, http.FileServer(http.Dir(*static))))
		os.Exit(1)
	}
	if err := run(*bin, *sessions, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchwebapp:", err)
		os.Exit(1)
	}
}

// keyFile is the key file for user's one provider box.
func keyFile(user, tokenURL, prefix string) string {
	return fmt.Sprintf("Handle = \"\"\nScopes = \"\"\nAudience = \"\"\nClientId = \"bench\"\nProvider = \"box\"\nTokenUrl = %q\nLocalUser = %q\nReturnUrl = %q\nClientSecret = \"benchsecret\"\nAuthorizationUrl = %q\n",
		tokenURL, user, prefix+"/return/box", tokenURL+"/authorize")
}

func run(bin string, sessions, rounds int) error {
	if bin == "" {
		return errors.New("-bin is required")
	}
	dir, err := os.MkdirTemp("", "benchwebapp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cred := filepath.Join(dir, "creds")
	if err := os.Mkdir(cred, 0o770); err != nil {
		return err
	}
	// The provider: token endpoint in process.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	n := 0
	var mu sync.Mutex
	go http.Serve(tl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": "at%d", "expires_in": 3600, "token_type": "bearer", "refresh_token": "rt%d"}`, i, i)
	}))
	tokenURL := "http://" + tl.Addr().String()

	port, err := stack.FreePort()
	if err != nil {
		return err
	}
	web := "127.0.0.1:" + strconv.Itoa(port)
	prefix := "http://" + web + "/credmon"
	// Every knob from the environment: no condor_config_val needed.
	envv := append(os.Environ(), "_CONDOR_CREDMON_WEB_PREFIX="+prefix, "_CONDOR_SEC_CREDENTIAL_DIRECTORY_OAUTH="+cred,
		"_CONDOR_LOCAL_CREDMON_PUBLIC_KEY="+filepath.Join(dir, "none.pem"), "_CONDOR_LOCAL_CREDMON_ISSUER=https://bench",
		"_CONDOR_LOCAL_CREDMON_KEY_ID=local", "_CONDOR_FULL_HOSTNAME=bench", "_CONDOR_CREDMON_WEB_LISTEN=",
		"_CONDOR_CREDMON_WEB_CERTIFICATE_FILE=", "_CONDOR_CREDMON_WEB_KEY_FILE=", "_CONDOR_CREDMON_WEB_STORE_CLIENT_SECRET=true",
		"_CONDOR_SEC_CREDENTIAL_DIRECTORY=", "_CONDOR_BOX_AUTHORIZATION_PARAMETERS=", "_CONDOR_BOX_AUDIENCE_PARAMETER=")
	srv := exec.Command(filepath.Join(bin, "condor_credmon_webserver"), "--no-tls", "--listen", web)
	srv.Env = envv
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Process.Kill()

	staticDir := filepath.Join(dir, "static")
	os.Mkdir(staticDir, 0o755)
	os.WriteFile(filepath.Join(staticDir, "page.html"), make([]byte, 2500), 0o644)
	sport, err := stack.FreePort()
	if err != nil {
		return err
	}
	saddr := "127.0.0.1:" + strconv.Itoa(sport)
	self, _ := os.Executable()
	st := exec.Command(self, "-static", staticDir, "-addr", saddr)
	if err := st.Start(); err != nil {
		return err
	}
	defer st.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, a := range []string{web, saddr} {
		if err := waitPort(ctx, a); err != nil {
			return err
		}
	}

	// One key file per session and round.
	keys := make([][]string, sessions)
	for s := range sessions {
		for r := range rounds {
			b := make([]byte, 32)
			copy(b, fmt.Sprintf("s%03dr%03d", s, r))
			k := hex.EncodeToString(b)
			if err := os.WriteFile(filepath.Join(cred, k), []byte(keyFile(fmt.Sprintf("bu%03d", s), tokenURL, prefix)), 0o640); err != nil {
				return err
			}
			keys[s] = append(keys[s], k)
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: sessions + 10, MaxConnsPerHost: 0}
	var keyLat, retLat, staticLat []time.Duration
	var lmu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, sessions)
	csrfRE := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			// Secure cookies on plain loopback HTTP: keep the jar's https
			// rule out of the measurement by a wrapper.
			c := &http.Client{Transport: tr, Jar: insecureJar{jar}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for _, k := range keys[s] {
				t0 := time.Now()
				resp, err := c.Get(prefix + "/key/" + k)
				if err != nil {
					errc <- err
					return
				}
				drain(resp)
				resp, err = c.Get(prefix + "/")
				if err != nil {
					errc <- err
					return
				}
				page, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d1 := time.Since(t0)
				m := csrfRE.FindSubmatch(page)
				if m == nil {
					errc <- fmt.Errorf("no login form: %.200s", page)
					return
				}
				resp, err = c.PostForm(prefix+"/login/box", url.Values{"csrf": {string(m[1])}})
				if err != nil {
					errc <- err
					return
				}
				drain(resp)
				au, _ := url.Parse(resp.Header.Get("Location"))
				t1 := time.Now()
				resp, err = c.Get(prefix + "/return/box?code=c&state=" + url.QueryEscape(au.Query().Get("state")))
				if err != nil {
					errc <- err
					return
				}
				drain(resp)
				d2 := time.Since(t1)
				if resp.StatusCode != http.StatusSeeOther {
					errc <- fmt.Errorf("return endpoint: HTTP %d", resp.StatusCode)
					return
				}
				lmu.Lock()
				keyLat, retLat = append(keyLat, d1), append(retLat, d2)
				lmu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		return err
	}
	// The same closed loop against the static server: per round two GETs
	// (timed together, like the key page) and two more (the login and the
	// return), so it sees the same request rate per client.
	var pairLat []time.Duration
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &http.Client{Transport: tr}
			get := func() {
				if resp, err := sc.Get("http://" + saddr + "/page.html"); err == nil {
					drain(resp)
				}
			}
			for range rounds {
				t0 := time.Now()
				get()
				get()
				d1 := time.Since(t0)
				get()
				t1 := time.Now()
				get()
				d2 := time.Since(t1)
				lmu.Lock()
				pairLat, staticLat = append(pairLat, d1), append(staticLat, d2)
				lmu.Unlock()
			}
		}()
	}
	wg.Wait()
	rss, srss := peakRSS(srv.Process.Pid), peakRSS(st.Process.Pid)
	fmt.Printf("%d sessions x %d logins, concurrent; each key page = GET /key/<key> + GET / (two requests)\n", sessions, rounds)
	row := func(name string, l []time.Duration) {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		fmt.Printf("%-34s median %6.2f ms   p99 %6.2f ms   (n=%d)\n", name, ms(l[len(l)/2]), ms(l[len(l)*99/100]), len(l))
	}
	row("key page", keyLat)
	row("return endpoint (.meta, .top fsynced)", retLat)
	row("static file server, two GETs", pairLat)
	row("static file server, one GET", staticLat)
	fmt.Printf("peak RSS: condor_credmon_webserver %.1f MiB, static file server %.1f MiB (goal: p99 < 20 ms, RSS < 30 MiB)\n", rss, srss)
	return nil
}

// insecureJar sends Secure cookies over loopback HTTP too (the benchmark
// runs without TLS on purpose).
type insecureJar struct{ http.CookieJar }

func (j insecureJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	v := *u
	v.Scheme = "https"
	j.CookieJar.SetCookies(&v, cs)
}

func (j insecureJar) Cookies(u *url.URL) []*http.Cookie {
	v := *u
	v.Scheme = "https"
	return j.CookieJar.Cookies(&v)
}

func drain(r *http.Response) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// peakRSS is VmHWM of pid, in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

func waitPort(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not start listening", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
