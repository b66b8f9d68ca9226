package credmon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Source is where knob values come from. *htcondor.Config implements it:
// _CONDOR_<KNOB> environment overrides first, then one condor_config_val
// run for the rest. Undefined knobs are absent from the map.
type Source interface {
	Get(ctx context.Context, knobs ...string) (map[string]string, error)
}

// knobTimeout bounds a lookup started by an accessor (a knob that was not
// loaded in advance).
const knobTimeout = 10 * time.Second

// Knobs is a cache over a Source. The daemon loads the knobs it and its
// providers need in one batch at start-up (Load), and the
// <PROVIDER>_CLIENT_ID knobs of provider names it meets for the first time
// in one batch per pass; every value, defined or not, is then remembered
// for the life of the process (HTCondor credmons never re-read their
// configuration: a SIGHUP only triggers a rescan). Knob names are
// case-insensitive, as in HTCondor. Knobs is safe for concurrent use.
type Knobs struct {
	src Source

	mu    sync.Mutex
	vals  map[string]string // upper-case name -> value (defined knobs)
	known map[string]bool   // upper-case name -> looked up
}

// NewKnobs returns an empty cache over src.
func NewKnobs(src Source) *Knobs {
	return &Knobs{src: src, vals: map[string]string{}, known: map[string]bool{}}
}

// Load looks up, in one batch, the knobs among names that were never
// looked up, and caches them. Names that HTCondor could not accept (see
// ValidKnobName) are cached as undefined without asking. On error nothing
// is cached, so a later Load asks again.
func (k *Knobs) Load(ctx context.Context, names ...string) error {
	k.mu.Lock()
	var ask []string
	seen := map[string]bool{}
	for _, n := range names {
		u := strings.ToUpper(n)
		if k.known[u] || seen[u] {
			continue
		}
		seen[u] = true
		if !ValidKnobName(n) {
			k.known[u] = true
			continue
		}
		ask = append(ask, u)
	}
	k.mu.Unlock()
	if len(ask) == 0 {
		return nil
	}
	vals, err := k.src.Get(ctx, ask...)
	if err != nil {
		return fmt.Errorf("reading the HTCondor configuration: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, u := range ask {
		k.known[u] = true
	}
	for n, v := range vals {
		k.vals[strings.ToUpper(n)] = v
	}
	return nil
}

// Lookup returns the value of a knob and whether it is defined (defined
// as empty counts as undefined, as in HTCondor). A knob that was never
// loaded is looked up on its own first (with a 10 s timeout); if that
// fails it is reported undefined and not cached.
func (k *Knobs) Lookup(name string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), knobTimeout)
	defer cancel()
	return k.LookupContext(ctx, name)
}

// LookupContext is Lookup within ctx (the caller's deadline, such as a
// refresh's), with no timeout of its own.
func (k *Knobs) LookupContext(ctx context.Context, name string) (string, bool) {
	u := strings.ToUpper(name)
	k.mu.Lock()
	v, ok := k.vals[u]
	known := k.known[u]
	k.mu.Unlock()
	if known {
		return v, ok
	}
	if err := k.Load(ctx, name); err != nil {
		return "", false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok = k.vals[u]
	return v, ok
}

// Cached is Lookup without the lookup: a knob that was never loaded is
// reported undefined. known tells whether it was loaded.
func (k *Knobs) Cached(name string) (value string, defined, known bool) {
	u := strings.ToUpper(name)
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.vals[u]
	return v, ok, k.known[u]
}

// String returns the knob's value, or def when it is undefined.
func (k *Knobs) String(name, def string) string {
	if v, ok := k.Lookup(name); ok {
		return v
	}
	return def
}

// Int returns the knob as an integer (see parseInt), def when undefined.
// A value that is not an integer gives def and an error naming the knob.
func (k *Knobs) Int(name string, def int64) (int64, error) {
	v, ok := k.Lookup(name)
	if !ok {
		return def, nil
	}
	n, err := parseInt(v)
	if err != nil {
		return def, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// Bool returns the knob as a boolean (see parseBool), def when undefined.
// A value that is not a boolean gives def and an error naming the knob.
func (k *Knobs) Bool(name string, def bool) (bool, error) {
	v, ok := k.Lookup(name)
	if !ok {
		return def, nil
	}
	b, err := parseBool(v)
	if err != nil {
		return def, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// List returns the knob split as an HTCondor list (see SplitList); nil
// when undefined.
func (k *Knobs) List(name string) []string {
	v, ok := k.Lookup(name)
	if !ok {
		return nil
	}
	return SplitList(v)
}

// ErrBadValue is matched by the errors of the parse helpers.
var ErrBadValue = errors.New("invalid value")

// parseInt parses an integer knob value: optional sign and decimal digits,
// surrounding white space ignored.
func parseInt(s string) (int64, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer", ErrBadValue, t)
	}
	return n, nil
}

// parseBool parses a boolean knob value as HTCondor's param_boolean does
// for literal values: "true" or "1", "false" or "0", in any case,
// surrounding white space ignored. (HTCondor would also evaluate a ClassAd
// expression; that is not supported.)
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean", ErrBadValue, strings.TrimSpace(s))
}

// SplitList splits an HTCondor list value on commas and white space,
// dropping empty items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// parseSize parses a log size such as MAX_<SUBSYS>_LOG: a number of bytes,
// optionally followed by a unit K, M or G (any case, optionally followed
// by "b"; powers of 1024), e.g. "10000000", "64 Kb", "10M".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a size", ErrBadValue, t)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	unit = strings.TrimSuffix(unit, "b")
	var mult int64
	switch unit {
	case "":
		mult = 1
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("%w: %q is not a size", ErrBadValue, t)
	}
	if n > (1<<62)/mult || n < -(1<<62)/mult {
		return 0, fmt.Errorf("%w: %q is too large", ErrBadValue, t)
	}
	return n * mult, nil
}

// ValidKnobName reports whether HTCondor accepts name as a knob name:
// ASCII letters, digits, '_' and '.', not empty, and not the
// condor_config_val keyword "use".
func ValidKnobName(name string) bool {
	if name == "" || strings.EqualFold(name, "use") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
