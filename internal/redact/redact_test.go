package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, in := range []string{
		"Authorization: Bearer s3cr3t\r\nHost: x",
		"authorization: s3cr3t",
		"token pms_s3cr3t0123 used",
		"x-paimon-cluster: node2 123 s3cr3t",
		"bearer s3cr3t",
		`"GET / HTTP/1.1\r\nAuthorization: Bearer s3cr3t"`,
	} {
		if out := String(in); strings.Contains(out, "s3cr3t") {
			t.Errorf("String(%q) = %q", in, out)
		}
	}
	if s := "nothing to hide here"; String(s) != s {
		t.Errorf("changed %q", s)
	}
}

func TestReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ReplaceAttr}))
	l.Info("msg", "header", "Authorization: Bearer s3cr3t", "error", errors.New("bad token pms_s3cr3t"), "n", 3)
	if out := buf.String(); strings.Contains(out, "s3cr3t") || !strings.Contains(out, "n=3") {
		t.Fatalf("logged %s", out)
	}
}
