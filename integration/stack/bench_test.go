package stack

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkStackStart measures the stack's start-up (certificates, KDC,
// slapd, IdP, Vault init/unseal and configuration; plugin and Vault builds
// excluded) and reports the median as startup-s. Goal: under 10 s.
func BenchmarkStackStart(b *testing.B) {
	if m := MissingPrereqs(); m != nil {
		b.Skipf("prerequisites missing: %v", m)
	}
	var times []time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		s, err := Start(ctx, Options{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, s.StartupTime)
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(times[len(times)/2].Seconds(), "startup-s")
}
