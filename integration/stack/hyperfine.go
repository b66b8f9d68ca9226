package stack

import (
	"encoding/json"
	"os"
	"sort"
)

// HyperfineMedians reads a hyperfine --export-json file and returns each
// command's (by its -n name) median time in milliseconds: the one reader
// of the benchmark programs' timings.
func HyperfineMedians(path string) (map[string]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res struct {
		Results []struct {
			Command string    `json:"command"`
			Times   []float64 `json:"times"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	med := map[string]float64{}
	for _, r := range res.Results {
		if len(r.Times) > 0 {
			med[r.Command] = Median(r.Times) * 1000
		}
	}
	return med, nil
}

// Median is the median of xs (0 for none), xs left unchanged.
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
