package config

import (
	"reflect"
	"strings"
)

// Reloadable are the keys a running node applies on SIGHUP (node.Node.Reload and the log
// level in cmd/paimon): the API's certificate files (a renewed certificate at the same paths
// too), the per-client rate limits, the alert webhooks and their delivery settings, and the
// log level. A key here ending in '.' stands for its whole section.
var Reloadable = []string{"http.tls_cert_file", "http.tls_key_file", "ratelimit.", "alerts.", "log.level"}

// IsReloadable reports whether a running node applies key (a dotted TOML key) on SIGHUP.
func IsReloadable(key string) bool {
	for _, r := range Reloadable {
		if key == r || strings.HasSuffix(r, ".") && strings.HasPrefix(key, r) {
			return true
		}
	}
	return false
}

// ApplyReloadable returns the configuration a node runs with after SIGHUP applied next: cur
// with next's values of the Reloadable keys, every other key as it was (it needs a restart).
func ApplyReloadable(cur, next *Config) *Config {
	applied := *cur
	applied.HTTP.TLSCertFile, applied.HTTP.TLSKeyFile = next.HTTP.TLSCertFile, next.HTTP.TLSKeyFile
	applied.RateLimit, applied.Alerts, applied.Log.Level = next.RateLimit, next.Alerts, next.Log.Level
	return &applied
}

// Changed lists the dotted TOML keys whose values differ between a and b, in the order of
// the configuration; a list or a table of lists ([[auth.tokens]]) counts as one key.
func Changed(a, b *Config) []string {
	var keys []string
	changed(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "", &keys)
	return keys
}

func changed(a, b reflect.Value, prefix string, keys *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && hasTOMLFields(f.Type) {
			changed(fa, fb, key+".", keys)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*keys = append(*keys, key)
		}
	}
}

func hasTOMLFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") != "" {
			return true
		}
	}
	return false
}
