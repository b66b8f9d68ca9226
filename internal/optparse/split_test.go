package optparse

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

func TestSplitMatchesShlex(t *testing.T) {
	b, err := os.ReadFile("testdata/split_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			In  string   `json:"in"`
			Out []string `json:"out"`
		} `json:"cases"`
		Errors []struct {
			In  string `json:"in"`
			Err string `json:"err"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 20 || len(doc.Errors) < 4 {
		t.Fatalf("too few cases loaded: %d, %d", len(doc.Cases), len(doc.Errors))
	}
	for _, c := range doc.Cases {
		got, err := Split(c.In)
		if err != nil {
			t.Errorf("Split(%q): %v", c.In, err)
			continue
		}
		if len(got) == 0 && len(c.Out) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.Out) {
			t.Errorf("Split(%q) = %q, want %q", c.In, got, c.Out)
		}
	}
	for _, c := range doc.Errors {
		_, err := Split(c.In)
		if err == nil || err.Error() != c.Err {
			t.Errorf("Split(%q) error = %v, want %q", c.In, err, c.Err)
		}
	}
}
