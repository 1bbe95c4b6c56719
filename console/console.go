// Package console is the operator console served at /console/: plain HTML, ES modules and one
// vendored library (htm's Preact standalone build), embedded in the binary, with no build step.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"sort"
	"strings"
)

// web holds index.html (a template naming the assets) and the assets themselves.
//
//go:embed web
var web embed.FS

// Console is the console's files, ready to serve: the index rendered once with the hashed asset
// names, and each asset under its hashed name. It is immutable after New.
type Console struct {
	index  []byte
	csp    string
	assets map[string]Asset // by hashed name
	names  map[string]string
}

// Asset is one embedded file under its hashed name.
type Asset struct {
	Body        []byte
	ContentType string
}

// AssetPath is where the assets are served; an asset's name there is its file name with the
// first 10 hex digits of its SHA-256 before the extension (app.3f9c2e1a0b.js), so a browser may
// keep it for a year: a new release names changed files differently.
const AssetPath = "/console/assets/"

// New reads the embedded files, names each asset by its content and renders the index.
func New() (*Console, error) {
	c := &Console{assets: map[string]Asset{}, names: map[string]string{}}
	entries, err := fs.ReadDir(web, "web/assets")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	for _, e := range entries {
		body, err := web.ReadFile("web/assets/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:5]) + ext
		ctype := mime.TypeByExtension(ext)
		if ext == ".js" {
			ctype = "text/javascript; charset=utf-8" // the OS's mime table may not know it
		}
		c.assets[hashed] = Asset{Body: body, ContentType: ctype}
		c.names[e.Name()] = AssetPath + hashed
	}
	tmpl, err := web.ReadFile("web/index.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if err := c.render(tmpl); err != nil {
		return nil, err
	}
	return c, nil
}

// render fills the index's placeholders: {{importmap}} becomes the import map of every module
// (bare name "c/x.js" → its hashed URL: modules import one another by those names, so a change
// to one module renames that file alone), {{asset:NAME}} the hashed URL of NAME.
func (c *Console) render(tmpl []byte) error {
	imports := map[string]string{}
	var names []string
	for name := range c.names {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, ".js") {
			imports["c/"+name] = c.names[name]
		}
	}
	imports["preact"] = c.names["preact-htm.js"]
	m, err := json.Marshal(map[string]any{"imports": imports})
	if err != nil {
		return fmt.Errorf("console: import map: %w", err)
	}
	sum := sha256.Sum256(m)
	// The import map is the one inline script: the policy allows it by its hash and nothing
	// else inline.
	c.csp = "default-src 'self'; script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	out := bytes.ReplaceAll(tmpl, []byte("{{importmap}}"), m)
	for {
		i := bytes.Index(out, []byte("{{asset:"))
		if i < 0 {
			break
		}
		j := bytes.Index(out[i:], []byte("}}"))
		if j < 0 {
			return fmt.Errorf("console: index.html: unterminated {{asset:")
		}
		name := string(out[i+len("{{asset:") : i+j])
		url, ok := c.names[name]
		if !ok {
			return fmt.Errorf("console: index.html names %q, which is not an asset", name)
		}
		out = append(out[:i:i], append([]byte(url), out[i+j+2:]...)...)
	}
	c.index = out
	return nil
}

// Index is the console's page (served with no-cache: it names the current assets).
func (c *Console) Index() []byte { return c.index }

// ContentSecurityPolicy is the policy the index is served with.
func (c *Console) ContentSecurityPolicy() string { return c.csp }

// Asset returns the asset with that hashed name.
func (c *Console) Asset(hashed string) (Asset, bool) {
	a, ok := c.assets[hashed]
	return a, ok
}

// Assets lists the assets by their file names with their hashed URLs (for sizes and tests).
func (c *Console) Assets() map[string]string {
	out := make(map[string]string, len(c.names))
	for k, v := range c.names {
		out[k] = v
	}
	return out
}
