package server

import (
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gather returns each series' value (a histogram's sample count) by family
// name and "label=value," pairs, as the registry exposes it.
func gather(t *testing.T, m *metrics) map[string]map[string]float64 {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, f := range families {
		series := map[string]float64{}
		for _, s := range f.GetMetric() {
			var labels strings.Builder
			for _, l := range s.GetLabel() {
				labels.WriteString(l.GetName() + "=" + l.GetValue() + ",")
			}
			v := s.GetCounter().GetValue()
			if h := s.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			series[labels.String()] = v
		}
		out[f.GetName()] = series
	}
	return out
}

// TestRequestSeriesKept: requests count the same whether their series were
// kept or resolved afresh, and no more than maxRequestSeries are kept
// however many methods clients invent.
func TestRequestSeriesKept(t *testing.T) {
	m := newMetrics()
	for i := range maxRequestSeries + 50 {
		m.observeRequest("", "M"+strconv.Itoa(i), 405, time.Millisecond, "")
	}
	for range 3 {
		m.observeRequest("POST /token", "POST", 400, time.Millisecond, "AuthorizationPendingException")
		m.observeRequest("POST /token", "POST", 200, time.Millisecond, "")
		m.observeRequest("", "M"+strconv.Itoa(maxRequestSeries+49), 405, time.Millisecond, "")
	}
	if n := m.seriesCount.Load(); n != maxRequestSeries {
		t.Errorf("%d series kept, want the bound %d", n, maxRequestSeries)
	}
	got := gather(t, m)
	requests := got["ssooidc_http_requests_total"]
	for labels, want := range map[string]float64{
		"method=POST,route=POST /token,status=400,":                                     3,
		"method=POST,route=POST /token,status=200,":                                     3,
		"method=M0,route=unmatched,status=405,":                                         1,
		"method=M" + strconv.Itoa(maxRequestSeries+49) + ",route=unmatched,status=405,": 4,
	} {
		if requests[labels] != want {
			t.Errorf("requests{%s} = %v, want %v", labels, requests[labels], want)
		}
	}
	if len(requests) != maxRequestSeries+52 {
		t.Errorf("%d request series, want %d", len(requests), maxRequestSeries+52)
	}
	if want := map[string]float64{"exception=AuthorizationPendingException,": 3}; !maps.Equal(got["ssooidc_aws_errors_total"], want) {
		t.Errorf("exceptions %v, want %v", got["ssooidc_aws_errors_total"], want)
	}
	if want := map[string]float64{"route=unmatched,": maxRequestSeries + 53, "route=POST /token,": 6}; !maps.Equal(got["ssooidc_http_request_duration_seconds"], want) {
		t.Errorf("latency samples %v, want %v", got["ssooidc_http_request_duration_seconds"], want)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := newMetrics()
	b.ReportAllocs()
	for b.Loop() {
		m.observeRequest("POST /token", "POST", 400, time.Millisecond, "AuthorizationPendingException")
	}
}
