package webapp

import (
	"bytes"
	"strings"

	"github.com/vaultcred/gettoken/internal/classad"
)

// keyFileLimits bound the ClassAd reader on a key file.
var keyFileLimits = classad.Limits{MaxBytes: maxKeyFile, MaxDepth: 4, MaxAttrs: 64, MaxAds: 64, MaxString: 16 << 10}

// ParseKeyAds is the AdParser for the credd's key files: old-style ads
// (one `Name = "value"` per line, a blank line between ads), or new-style
// `[ ... ]` ads, which HTCondor's Python reader also accepts. Only string
// attributes are kept (the credd writes nothing else).
func ParseKeyAds(data []byte) ([]Ad, error) {
	var ads []*classad.Ad
	var err error
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		ads, err = classad.ParseNewLimits(data, keyFileLimits)
	} else {
		ads, err = classad.ParseOldLimits(data, keyFileLimits)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Ad, 0, len(ads))
	for _, a := range ads {
		m := Ad{}
		for _, n := range a.Names() {
			if s, ok := a.GetString(n); ok {
				m[strings.ToLower(n)] = s
			}
		}
		out = append(out, m)
	}
	return out, nil
}
