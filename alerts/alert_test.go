package alerts_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"paimon/alerts"
)

func testAlert() alerts.Alert {
	return alerts.Alert{ID: "42", Time: time.Date(2026, 12, 3, 7, 0, 0, 5, time.FixedZone("x", 3600)), Severity: "critical",
		Source: "CHAIN", Type: "CriticalLiquidityAlert", Message: "L1 at 2% <below> critical", Details: []byte(`{"l1Ratio":200}`)}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

func TestBodyGeneric(t *testing.T) {
	b, err := alerts.Body(testAlert(), alerts.FormatGeneric, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": "42", "time": "2026-12-03T06:00:00.000000005Z", "severity": "CRITICAL", "source": "CHAIN",
		"type": "CriticalLiquidityAlert", "message": "L1 at 2% <below> critical", "details": map[string]any{"l1Ratio": 200.0}}
	if got := decode(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("generic body %v, want %v", got, want)
	}
	a := testAlert()
	a.Details = nil
	b, _ = alerts.Body(a, "", "")
	if d := decode(t, b)["details"]; !reflect.DeepEqual(d, map[string]any{}) {
		t.Errorf("empty details rendered %v, want {}", d)
	}
}

func TestBodyPagerDuty(t *testing.T) {
	b, err := alerts.Body(testAlert(), alerts.FormatPagerDuty, "RKEY")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	p := m["payload"].(map[string]any)
	if m["routing_key"] != "RKEY" || m["event_action"] != "trigger" || m["dedup_key"] != "42" ||
		p["severity"] != "critical" || p["timestamp"] != "2026-12-03T06:00:00.000000005Z" || p["source"] != "paimon-edge/chain" ||
		!strings.HasPrefix(p["summary"].(string), "[CRITICAL] CHAIN CriticalLiquidityAlert: ") ||
		!reflect.DeepEqual(p["custom_details"], map[string]any{"l1Ratio": 200.0}) {
		t.Errorf("pagerduty body %s", b)
	}
	for sev, want := range map[string]string{"HIGH": "error", "WARNING": "warning", "INFO": "info"} {
		a := testAlert()
		a.Severity = sev
		b, _ := alerts.Body(a, alerts.FormatPagerDuty, "k")
		if got := decode(t, b)["payload"].(map[string]any)["severity"]; got != want {
			t.Errorf("%s mapped to %v, want %s", sev, got, want)
		}
	}
}

func TestBodySlack(t *testing.T) {
	b, err := alerts.Body(testAlert(), alerts.FormatSlack, "")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	if !strings.HasPrefix(m["text"].(string), "[CRITICAL] ") {
		t.Errorf("slack text %q does not lead with the severity", m["text"])
	}
	blocks := fmt.Sprint(m["blocks"])
	if !strings.Contains(blocks, "*CRITICAL*") || !strings.Contains(blocks, "&lt;below&gt;") || !strings.Contains(blocks, "alert 42") {
		t.Errorf("slack blocks %s", blocks)
	}
}

func TestBodyRefusesBadAlerts(t *testing.T) {
	for _, edit := range []func(*alerts.Alert){
		func(a *alerts.Alert) { a.Severity = "SEVERE" },
		func(a *alerts.Alert) { a.Details = []byte(`[1]`) },
		func(a *alerts.Alert) { a.Details = []byte(`{"a":`) },
	} {
		a := testAlert()
		edit(&a)
		if _, err := alerts.Body(a, alerts.FormatGeneric, ""); err == nil {
			t.Errorf("Body(%+v) rendered", a)
		}
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"1"}`)
	// echo -n '{"id":"1"}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=6146142a2ce0159e84c0767881e4ec80bc397da62526e7d19f70795eb79460c0"
	sig := alerts.Sign("secret", body)
	if sig != want {
		t.Fatalf("Sign = %q, want %q", sig, want)
	}
	if !alerts.Verify("secret", body, sig) || alerts.Verify("other", body, sig) || alerts.Verify("secret", []byte(`{"id":"2"}`), sig) {
		t.Error("Verify does not tell a good signature from a bad one")
	}
}

// FuzzBody: any alert either renders in every format or is refused with alerts.ErrBadAlert; a rendered
// body is JSON carrying the alert's id and message unchanged.
func FuzzBody(f *testing.F) {
	f.Add("42", "critical", "L1 <2%> & falling", `{"a":1}`)
	f.Add("", "INFO", "\xff\x00", ``)
	f.Add("x", "warn", "m", `null`)
	f.Add("\u2028", "High", strings.Repeat("é", 600), `{"nested":{"k":[1,2]}}`)
	f.Fuzz(func(t *testing.T, id, severity, message, details string) {
		a := alerts.Alert{ID: id, Time: time.Unix(1_736_200_000, 0), Severity: severity, Source: "RULE", Type: "t", Message: message, Details: []byte(details)}
		for _, format := range []string{alerts.FormatGeneric, alerts.FormatSlack, alerts.FormatPagerDuty} {
			b, err := alerts.Body(a, format, "key")
			if err != nil {
				if !errors.Is(err, alerts.ErrBadAlert) {
					t.Fatalf("%s: %v does not wrap ErrBadAlert", format, err)
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s body is not JSON: %v\n%s", format, err, b)
			}
			if format == alerts.FormatGeneric && (m["id"] != asJSON(id) || m["message"] != asJSON(message)) {
				t.Fatalf("generic body %s does not carry id %q and message %q", b, id, message)
			}
		}
	})
}

// asJSON is s as a JSON string carries it (invalid UTF-8 bytes replaced).
func asJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
