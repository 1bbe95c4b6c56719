package console_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"sort"
	"strings"
	"testing"

	"paimon/console"
)

// TestAssets: the page names every asset by its hashed URL, each hashed URL serves that asset,
// the import map maps every module, and the policy's script hash is the import map's. It logs
// each asset's size, raw and gzipped (bench/RESULTS.md).
func TestAssets(t *testing.T) {
	c, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	page := string(c.Index())
	if strings.Contains(page, "{{") {
		t.Fatalf("an unrendered placeholder: %s", page)
	}
	im := regexp.MustCompile(`<script type="importmap">(.*?)</script>`).FindStringSubmatch(page)
	if im == nil {
		t.Fatal("no import map")
	}
	sum := sha256.Sum256([]byte(im[1]))
	if !strings.Contains(c.ContentSecurityPolicy(), "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Errorf("the policy %q does not allow the import map", c.ContentSecurityPolicy())
	}
	var names []string
	for name := range c.Assets() {
		names = append(names, name)
	}
	sort.Strings(names)
	var raw, gz, fundRaw, fundGz int
	for _, name := range names {
		url := c.Assets()[name]
		a, ok := c.Asset(strings.TrimPrefix(url, console.AssetPath))
		if !ok || !regexp.MustCompile(`^/console/assets/[a-z-]+\.[0-9a-f]{10}\.(js|css)$`).MatchString(url) {
			t.Errorf("%s: %s is not served (%v)", name, url, ok)
			continue
		}
		if strings.HasSuffix(name, ".js") && !strings.Contains(im[1], `"`+url+`"`) {
			t.Errorf("the import map lacks %s", name)
		}
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write(a.Body)
		w.Close()
		raw, gz = raw+len(a.Body), gz+b.Len()
		// The Fund page loads the shell's modules; the other pages' load when opened.
		if !map[string]bool{"ops.js": true, "rebalance.js": true, "risk.js": true, "cluster.js": true}[name] {
			fundRaw, fundGz = fundRaw+len(a.Body), fundGz+b.Len()
		}
		t.Logf("%-14s %6d bytes, %5d gzipped", name, len(a.Body), b.Len())
	}
	t.Logf("page %d bytes; all assets %d bytes (%d gzipped); the Fund page's %d (%d gzipped)", len(page), raw, gz, fundRaw, fundGz)
}
