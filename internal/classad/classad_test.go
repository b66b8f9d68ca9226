package classad

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNewPluginInput(t *testing.T) {
	in := `[ Url = "mytokens.personal+davs://h:2880/in" /* c */; LocalFileName = "/iwd/caf\303\251" ] // x
[ PluginData = [ a = 1; ]; ]
[ url = "https://h/" "p" "a\"b\\c\n";
  localfilename = "/iwd/x"; Extra = strcat("a;]", {1, [b=2]}) ; R = 1.079339000000000E+00; N = -3; B = TRUE; U = undefined; E = Error ]`
	ads, err := ParseNew([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ads) != 3 {
		t.Fatalf("got %d ads", len(ads))
	}
	if s, _ := ads[0].GetString("URL"); s != "mytokens.personal+davs://h:2880/in" {
		t.Errorf("Url = %q", s)
	}
	if s, _ := ads[0].GetString("LocalFileName"); s != "/iwd/café" {
		t.Errorf("LocalFileName = %q", s)
	}
	if _, ok := ads[1].GetString("Url"); ok {
		t.Error("non-file ad has Url")
	}
	a := ads[2]
	if s, _ := a.GetString("Url"); s != "https://h/pa\"b\\c\n" {
		t.Errorf("concatenated Url = %q", s)
	}
	if e, ok := a.Get("extra"); !ok || e.Kind() != KindExpr {
		t.Errorf("Extra = %v", e.Kind())
	} else if txt, _ := e.ExprText(); txt != `strcat("a;]", {1, [b=2]})` {
		t.Errorf("Extra text = %q", txt)
	}
	if r, _ := a.Get("r"); r.Kind() != KindReal {
		t.Errorf("R kind %v", r.Kind())
	}
	if n, _ := a.GetInt("n"); n != -3 {
		t.Errorf("N = %d", n)
	}
	if b, ok := a.GetBool("b"); !ok || !b {
		t.Error("B not true")
	}
	if u, _ := a.Get("U"); u.Kind() != KindUndefined {
		t.Error("U not undefined")
	}
	if e, _ := a.Get("E"); e.Kind() != KindError {
		t.Error("E not error")
	}
	if a.Names()[0] != "url" {
		t.Errorf("first spelling not kept: %v", a.Names())
	}
}

func TestParseNewListForm(t *testing.T) {
	ads, err := ParseNew([]byte(" { [ TransferSuccess = true ], [ A = {} ] } \n"))
	if err != nil || len(ads) != 2 {
		t.Fatalf("ads=%d err=%v", len(ads), err)
	}
	ads, err = ParseNew([]byte("   \n"))
	if err != nil || len(ads) != 0 {
		t.Fatalf("blank: ads=%d err=%v", len(ads), err)
	}
}

func TestDuplicateLastWins(t *testing.T) {
	a, err := ParseNewAd([]byte(`[ A = 1; a = 2 ]`))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := a.GetInt("A"); n != 2 || a.Len() != 1 {
		t.Errorf("A=%d len=%d", n, a.Len())
	}
}

func TestParseNewErrors(t *testing.T) {
	for _, in := range []string{
		`[`, `[ A = ]`, `[ A 1 ]`, `[ A = "x ]`, `[ A = (1 ]`, `[ A = 1 ] x`, `[ true = 1 ]`,
		`[ A = "\0" ]`, `[ A = 1 /* ]`, `{ [ A = 1 ] [ B = 2 ] }`, `[ A = { 1, ]`, `[ A = 1 ]]`,
		`[ '' = 1 ]`, "[ A = 1 ",
	} {
		if _, err := ParseNew([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		} else if !strings.HasPrefix(err.Error(), "classad: ") {
			t.Errorf("%q: error %q", in, err)
		}
	}
}

func TestErrorsDoNotQuoteValues(t *testing.T) {
	_, err := ParseNew([]byte(`[ Token = "s3cr3t-value" ( ]`))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error quotes the value: %v", err)
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("[ A = ", 40) + "1" + strings.Repeat(" ]", 40)
	if _, err := ParseNew([]byte(deep)); !errors.Is(err, ErrLimit) {
		t.Errorf("depth: %v", err)
	}
	deepExpr := "[ A = " + strings.Repeat("(", 40) + strings.Repeat(")", 40) + " ]"
	if _, err := ParseNew([]byte(deepExpr)); !errors.Is(err, ErrLimit) {
		t.Errorf("expr depth: %v", err)
	}
	if _, err := ParseNewLimits([]byte(`[ A = 1; B = 2; C = 3 ]`), Limits{MaxAttrs: 2}); !errors.Is(err, ErrLimit) {
		t.Errorf("attrs: %v", err)
	}
	if _, err := ParseNewLimits([]byte(`[][][]`), Limits{MaxAds: 2}); !errors.Is(err, ErrLimit) {
		t.Errorf("ads: %v", err)
	}
	if _, err := ParseNewLimits([]byte(`[ A = "0123456789" ]`), Limits{MaxString: 5}); !errors.Is(err, ErrLimit) {
		t.Errorf("string: %v", err)
	}
	if _, err := ParseNewLimits([]byte(`[ A = 1 ]`), Limits{MaxBytes: 3}); !errors.Is(err, ErrLimit) {
		t.Errorf("bytes: %v", err)
	}
	if _, err := ParseOldLimits([]byte("A = 1\nB = 2\n"), Limits{MaxAttrs: 1}); !errors.Is(err, ErrLimit) {
		t.Errorf("old attrs: %v", err)
	}
}

func TestNumbers(t *testing.T) {
	for in, want := range map[string]Kind{
		"1": KindInt, "-1": KindInt, "+7": KindInt, "1.5": KindReal, ".5": KindReal, "5.": KindReal,
		"1e3": KindReal, "1E-3": KindReal, "012": KindExpr, "0x1F": KindExpr, "1e": KindExpr,
		"99999999999999999999": KindExpr, "1e999": KindExpr, "-": KindExpr, "1 + 2": KindExpr, "0": KindInt,
	} {
		v, err := ParseValue([]byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if v.Kind() != want {
			t.Errorf("%q: kind %v, want %v", in, v.Kind(), want)
		}
	}
}

func TestMarshalNew(t *testing.T) {
	a := New()
	a.SetBool("TransferSuccess", false)
	a.SetString("TransferError", "bad \"x\"\\ \x01\ttab é \xff")
	a.SetInt("TransferFileBytes", 0)
	a.SetReal("ConnectionTimeSeconds", 1)
	a.Set("TransferErrorData", List(AdValue(func() *Ad { e := New(); e.SetInt("ErrorCode", 403); return e }())))
	a.Set("odd name", Undefined())
	out, err := a.MarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	want := `[ TransferSuccess = false; TransferError = "bad \"x\"\\ \001\ttab é \377"; TransferFileBytes = 0; ConnectionTimeSeconds = 1.0E+00; TransferErrorData = { [ ErrorCode = 403 ] }; 'odd name' = undefined ]`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	back, err := ParseNewAd(out)
	if err != nil || !back.Equal(a) {
		t.Errorf("round trip: %v %v", err, back)
	}
	if _, err := New().MarshalNew(); err != nil {
		t.Error(err)
	}
	b := New()
	b.SetString("A", "x\x00y")
	if _, err := b.MarshalNew(); !errors.Is(err, ErrNUL) {
		t.Errorf("NUL: %v", err)
	}
}

func TestOldKeyFile(t *testing.T) {
	in := "Handle = \"\"\nScopes = \"\"\nProvider = \"box\"\nClientSecret = \"a\\b\\\"c\\\"\n\n" +
		"# comment\nHandle = \"personal\"\nScopes = \"read:/home/alice, write:/home/alice\"\nN = 12\nL = { \"a\", 1 }\n"
	ads, err := ParseOld([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ads) != 2 {
		t.Fatalf("%d ads", len(ads))
	}
	if s, _ := ads[0].GetString("clientsecret"); s != `a\b"c\` {
		t.Errorf("secret = %q", s)
	}
	if s, _ := ads[1].GetString("Scopes"); s != "read:/home/alice, write:/home/alice" {
		t.Errorf("Scopes = %q", s)
	}
	if n, _ := ads[1].GetInt("N"); n != 12 {
		t.Errorf("N = %d", n)
	}
	out, err := MarshalOldList(ads)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseOld(out)
	if err != nil || len(back) != 2 || !back[0].Equal(ads[0]) || !back[1].Equal(ads[1]) {
		t.Errorf("round trip: %v\n%s", err, out)
	}
}

func TestOldCapabilityAd(t *testing.T) {
	a := New()
	a.SetBool("MultipleFileSupport", true)
	a.SetString("PluginVersion", "1.0")
	a.SetInt("ProtocolVersion", 4)
	a.SetString("SupportedMethods", "https,davs")
	out, err := a.MarshalOld()
	if err != nil {
		t.Fatal(err)
	}
	want := "MultipleFileSupport = true\nPluginVersion = \"1.0\"\nProtocolVersion = 4\nSupportedMethods = \"https,davs\"\n"
	if string(out) != want {
		t.Errorf("got %q", out)
	}
	back, err := ParseOldAd(out)
	if err != nil || !back.Equal(a) {
		t.Errorf("round trip %v", err)
	}
	bad := New()
	bad.SetString("A", "two\nlines")
	if _, err := bad.MarshalOld(); !errors.Is(err, ErrOldSyntax) {
		t.Errorf("newline: %v", err)
	}
}

func TestParseOldErrors(t *testing.T) {
	for _, in := range []string{"A\n", "= 1\n", "1A = 2\n", "A = \n", "A = (1\n", "true = 1\n", "A-B = 1\n"} {
		_, err := ParseOld([]byte(in))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 1 {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestDelete(t *testing.T) {
	a := New()
	a.SetInt("A", 1)
	a.SetInt("B", 2)
	a.SetInt("C", 3)
	a.Delete("b")
	if a.Len() != 2 {
		t.Fatal(a.Len())
	}
	if n, _ := a.GetInt("C"); n != 3 {
		t.Error("C lost")
	}
	a.SetInt("c", 4)
	if a.Names()[1] != "C" {
		t.Error(a.Names())
	}
}
