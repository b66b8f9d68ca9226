package transfer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultConfigPath is read when GETTOKEN_TRANSFER_CONFIG is unset; a
// missing file means all defaults.
const DefaultConfigPath = "/etc/gettoken/transfer-plugin.conf"

// Config holds the administrator's settings. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// Services are the handle-first service schemes (`cloudstore://h/p`,
	// `<handle>+cloudstore://h/p`), fetched over https with the token
	// `<service>[_<handle>].use`.
	Services []string
	// AllowHTTP allows http:// and dav:// URLs (never with a token unless
	// TokenOverHTTP).
	AllowHTTP bool
	// TokenOverHTTP allows sending a token over plain http.
	TokenOverHTTP bool
	// TokenHosts are further host names (or host:port) that may receive
	// the token when a redirect leads there; the URL's own host always may.
	TokenHosts []string
	// Discovery enables WLCG bearer token discovery for URLs that name no
	// credential. It is always on outside a job (_CONDOR_CREDS unset).
	Discovery bool
	// Parallel is the number of files transferred at once.
	Parallel int
	// Attempts bounds the tries per file (connection errors, 408, 429, 5xx).
	Attempts int
	// Backoff is the first pause between attempts, doubled each time up to
	// MaxBackoff; a Retry-After up to MaxRetryAfter is honoured instead.
	Backoff, MaxBackoff, MaxRetryAfter time.Duration
	// StallTimeout aborts a transfer (and a wait for response headers)
	// during which no byte moved for this long.
	StallTimeout time.Duration
	// ConnectTimeout bounds connecting and the TLS handshake.
	ConnectTimeout time.Duration
	// MaxRedirects bounds redirects per request.
	MaxRedirects int
	// Checksum asks servers for Repr-Digest/Digest on downloads
	// (Want-Repr-Digest, Want-Digest). A checksum a server sends is
	// checked either way.
	Checksum bool
	// MkCol creates missing parent collections on 409 for dav/davs uploads.
	MkCol bool
	// TokenWait is how long an expired token file is watched for the
	// credmon's replacement before the transfer fails.
	TokenWait time.Duration
}

// DefaultConfig returns the settings used when the configuration file
// says nothing.
func DefaultConfig() Config {
	return Config{
		Parallel:       4,
		Attempts:       5,
		Backoff:        time.Second,
		MaxBackoff:     30 * time.Second,
		MaxRetryAfter:  120 * time.Second,
		StallTimeout:   60 * time.Second,
		ConnectTimeout: 30 * time.Second,
		MaxRedirects:   30,
		Checksum:       false,
		MkCol:          true,
		TokenWait:      30 * time.Second,
	}
}

// LoadConfig reads the file named by GETTOKEN_TRANSFER_CONFIG, else
// DefaultConfigPath; a missing default file gives DefaultConfig.
func LoadConfig(getenv func(string) string) (Config, error) {
	path, explicit := getenv("GETTOKEN_TRANSFER_CONFIG"), true
	if path == "" {
		path, explicit = DefaultConfigPath, false
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return DefaultConfig(), nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("reading the configuration: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads `key = value` lines (`#` starts a comment) over
// DefaultConfig. Lists are separated by commas or blanks; durations are
// Go durations or plain seconds; booleans true/false/yes/no/1/0.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return cfg, fmt.Errorf("line %d: expected key = value", n)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if err := cfg.set(k, v); err != nil {
			return cfg, fmt.Errorf("line %d: %s: %w", n, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (c *Config) set(k, v string) error {
	list := func() []string {
		return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	}
	var err error
	switch k {
	case "services":
		c.Services = nil
		for _, s := range list() {
			s = strings.ToLower(s)
			if !isSchemeWord(s) || isWebScheme(s) {
				return fmt.Errorf("%q is not a usable service scheme", s)
			}
			c.Services = append(c.Services, s)
		}
	case "token_hosts":
		c.TokenHosts = list()
	case "allow_http":
		c.AllowHTTP, err = parseBool(v)
	case "token_over_http":
		c.TokenOverHTTP, err = parseBool(v)
	case "discovery":
		c.Discovery, err = parseBool(v)
	case "checksum":
		c.Checksum, err = parseBool(v)
	case "mkcol":
		c.MkCol, err = parseBool(v)
	case "parallel":
		c.Parallel, err = parseInt(v, 1, 64)
	case "attempts":
		c.Attempts, err = parseInt(v, 1, 100)
	case "max_redirects":
		c.MaxRedirects, err = parseInt(v, 0, 100)
	case "backoff":
		c.Backoff, err = parseDuration(v)
	case "max_backoff":
		c.MaxBackoff, err = parseDuration(v)
	case "max_retry_after":
		c.MaxRetryAfter, err = parseDuration(v)
	case "stall_timeout":
		c.StallTimeout, err = parseDuration(v)
	case "connect_timeout":
		c.ConnectTimeout, err = parseDuration(v)
	case "token_wait":
		c.TokenWait, err = parseDuration(v)
	default:
		return errors.New("unknown setting")
	}
	return err
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true, nil
	case "false", "no", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v)
}

func parseInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", v, lo, hi)
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e6 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	return d, nil
}
