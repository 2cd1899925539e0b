package server_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// scrape fetches and parses /metrics; it returns counter and gauge values
// by metric name and then by the joined label values.
func scrape(t *testing.T, url string) map[string]map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	out := map[string]map[string]float64{}
	for name, f := range families {
		out[name] = map[string]float64{}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + ","
			}
			switch {
			case m.Counter != nil:
				out[name][key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name][key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[name][key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsAfterADeviceFlow(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)
	if _, err := l.poll(); err == nil {
		t.Fatal("first poll succeeded")
	}
	s.NewBrowser(t).Decide(aws.ToString(l.start.VerificationUriComplete), testUser, testPassword, true)
	if _, err := l.poll(); err != nil {
		t.Fatal(err)
	}

	m := scrape(t, s.URL+"/metrics")
	events := m["ssooidc_events_total"]
	for event, want := range map[string]float64{
		"client.registered": 1, "device.started": 1, "device.approved": 1, "device.redeemed": 1,
		"token.issued": 1, "signin.succeeded": 1, "user.added": 1,
	} {
		if got := events["event="+event+","]; got != want {
			t.Errorf("events{%s} = %v, want %v", event, got, want)
		}
	}
	if got := m["ssooidc_aws_errors_total"]["exception=AuthorizationPendingException,"]; got != 1 {
		t.Errorf("AuthorizationPendingException count = %v, want 1", got)
	}
	if got := m["ssooidc_http_requests_total"]["method=POST,route=POST /token,status=200,"]; got != 1 {
		t.Errorf("token 200s = %v, want 1 (have %v)", got, m["ssooidc_http_requests_total"])
	}
	if got := m["ssooidc_http_request_duration_seconds"]["route=POST /token,"]; got != 2 {
		t.Errorf("token latency samples = %v, want 2", got)
	}
	if len(m["ssooidc_build_info"]) != 1 {
		t.Errorf("build info = %v", m["ssooidc_build_info"])
	}
}
