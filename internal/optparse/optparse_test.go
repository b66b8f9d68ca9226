package optparse

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// parseCase is one entry of testdata/parse_cases.json.
type parseCase struct {
	Args    []string          `json:"args"`
	Values  map[string]string `json:"values"`
	Pos     []string          `json:"-"`
	Error   string            `json:"error"`
	Special string            `json:"special"`
	Note    string            `json:"note"`
}

func (c *parseCase) UnmarshalJSON(b []byte) error {
	type plain parseCase
	var raw struct {
		plain
		Pos *[]string `json:"args_out"`
	}
	if err := json.Unmarshal(b, &raw.plain); err != nil {
		return err
	}
	*c = parseCase(raw.plain)
	return nil
}

func loadParseCases(t *testing.T) []struct {
	parseCase
	PosArgs []string
} {
	t.Helper()
	b, err := os.ReadFile("testdata/parse_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	// The file stores the positional arguments of a successful parse under
	// "args" too (Python's parse_args result); tell them apart by position:
	// read each case twice.
	var doc struct {
		Cases []json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []struct {
		parseCase
		PosArgs []string
	}
	for _, raw := range doc.Cases {
		var c parseCase
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, struct {
			parseCase
			PosArgs []string
		}{c, nil})
	}
	return out
}

func TestParseMatchesOptparse(t *testing.T) {
	b, err := os.ReadFile("testdata/parse_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Argv    []string          `json:"argv"`
			Args    []string          `json:"args"`
			Values  map[string]string `json:"values"`
			Error   string            `json:"error"`
			Special string            `json:"special"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 50 {
		t.Fatalf("only %d cases loaded", len(doc.Cases))
	}
	p := HTGetToken("htgettoken", "")
	for _, c := range doc.Cases {
		t.Run(strings.Join(c.Argv, " "), func(t *testing.T) {
			res, err := p.Parse(c.Argv)
			var pe *Error
			switch {
			case c.Special == "help":
				if !errors.Is(err, ErrHelp) {
					t.Fatalf("got %v, want ErrHelp", err)
				}
			case c.Special == "version":
				if !errors.Is(err, ErrVersion) {
					t.Fatalf("got %v, want ErrVersion", err)
				}
			case c.Error != "":
				if !errors.As(err, &pe) || pe.Msg != c.Error {
					t.Fatalf("got error %v, want %q", err, c.Error)
				}
			default:
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				got := map[string]string{}
				for k, v := range res.strs {
					got[k] = v
				}
				for k, v := range res.flags {
					if v {
						got[k] = "true"
					}
				}
				for k, v := range res.ints {
					got[k] = strconv.FormatInt(v, 10)
				}
				if !reflect.DeepEqual(got, c.Values) && !(len(got) == 0 && len(c.Values) == 0) {
					t.Errorf("values %v, want %v", got, c.Values)
				}
				if !reflect.DeepEqual(res.Args, c.Args) && !(len(res.Args) == 0 && len(c.Args) == 0) {
					t.Errorf("positional %q, want %q", res.Args, c.Args)
				}
			}
		})
	}
}

func TestHelpMatchesOptparse(t *testing.T) {
	for _, width := range []int{78, 40} {
		want, err := os.ReadFile("testdata/help_" + strconv.Itoa(width) + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		p := HTGetToken("htgettoken", "/etc/ssl/certs/ca-certificates.crt")
		p.Width = width
		if got := p.Help(); got != string(want) {
			t.Errorf("width %d: help differs from optparse's:\n%s", width, diffLines(got, string(want)))
		}
	}
}

func TestHelpDefaultWidthAndName(t *testing.T) {
	p := HTGetToken("gettoken", "")
	h := p.Help()
	if !strings.HasPrefix(h, "Usage: gettoken [-h] [otheroptions]\n\nOptions:\n") {
		t.Errorf("help starts %q", h[:60])
	}
	if strings.Contains(h, "--cafile=file         file of certificate authority certificates [default") {
		t.Errorf("empty cafile default must not be shown")
	}
	for _, l := range strings.Split(h, "\n") {
		if len([]rune(l)) > 78 {
			t.Errorf("line longer than 78: %q", l)
		}
	}
}

func TestFormatError(t *testing.T) {
	p := HTGetToken("htgettoken", "")
	got := p.FormatError(&Error{Msg: "no such option: --foo"})
	want := "Usage: htgettoken [-h] [otheroptions]\n\nhtgettoken: error: no such option: --foo\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWrapMatchesTextwrap(t *testing.T) {
	b, err := os.ReadFile("testdata/wrap_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Text  string   `json:"text"`
			Width int      `json:"width"`
			Lines []string `json:"lines"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Cases {
		got := wrapText(c.Text, c.Width)
		if len(got) == 0 && len(c.Lines) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.Lines) {
			t.Errorf("wrap(%q, %d):\n got %q\nwant %q", c.Text, c.Width, got, c.Lines)
		}
	}
}

func TestParseEmptyAndNilArgs(t *testing.T) {
	p := HTGetToken("gettoken", "")
	for _, args := range [][]string{nil, {}} {
		res, err := p.Parse(args)
		if err != nil || len(res.Args) != 0 || len(res.strs) != 0 {
			t.Errorf("Parse(%v) = %+v, %v", args, res, err)
		}
	}
}

func TestParseIntRange(t *testing.T) {
	p := HTGetToken("gettoken", "")
	res, err := p.Parse([]string{"--minsecs=9223372036854775807"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := res.Int("minsecs"); v != 9223372036854775807 {
		t.Errorf("got %d", v)
	}
	_, err = p.Parse([]string{"--minsecs=9223372036854775808"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Msg != "option --minsecs: invalid integer value: '9223372036854775808'" {
		t.Errorf("got %v", err)
	}
}

func TestValuesWithEqualsAndSpaces(t *testing.T) {
	p := HTGetToken("gettoken", "")
	res, err := p.Parse([]string{"--scopes=a=b c", "-o", "x=y", "--web-open-command", "firefox --new-window"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"scopes": "a=b c", "outfile": "x=y", "web-open-command": "firefox --new-window"} {
		if got, ok := res.String(name); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, ok, want)
		}
	}
}

// diffLines shows the first differing line.
func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got " + strconv.Quote(gl) + "\nwant " + strconv.Quote(wl)
		}
	}
	return "(no difference)"
}
