package server

import (
	"bytes"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"paimon/api"
	"paimon/auth"
)

// TestOpenAPIMatchesRouteTable: api/openapi.json is a valid OpenAPI 3.1 document and says what
// the route table says: every row is an operation (operationId = the row's name) at the same
// path and method with exactly the row's query parameters (plus consistency and max_staleness
// on reads) and path parameter, public rows need no security and the others the bearer token,
// and every operation documents the errors its row can give (400, 401/403 unless public, 404
// with a path parameter, 429 unless unlimited, 413 with a body); every operation of the
// document is a row. A route added without its document entry fails here (node's
// TestOpenAPIResponses then checks what the node answers against it).
func TestOpenAPIMatchesRouteTable(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("not a valid OpenAPI document: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Errorf("the default security is %v, want the bearer scheme", doc.Security)
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path+" "+op.OperationID] = true
		}
	}
	braces := regexp.MustCompile(`\{(\w+)\}`)
	for _, rt := range routes[1:] {
		key := rt.method + " " + rt.path + " " + rt.name
		if !documented[key] {
			t.Errorf("route %s (%s %s) is not in api/openapi.json (add an operation with operationId %q)", rt.name, rt.method, rt.path, rt.name)
			continue
		}
		delete(documented, key)
		op := doc.Paths.Find(rt.path).GetOperation(rt.method)

		var query, path []string
		for _, p := range op.Parameters {
			switch p.Value.In {
			case "query":
				query = append(query, p.Value.Name)
			case "path":
				path = append(path, p.Value.Name)
			}
		}
		want := append([]string(nil), rt.params...)
		if rt.read != nil {
			want = append(want, consistencyParams...)
		}
		sort.Strings(query)
		sort.Strings(want)
		if !slices.Equal(query, want) {
			t.Errorf("%s: documented query parameters %v, the route accepts %v", rt.name, query, want)
		}
		var wantPath []string
		for _, m := range braces.FindAllStringSubmatch(rt.path, -1) {
			wantPath = append(wantPath, m[1])
		}
		if !slices.Equal(path, wantPath) {
			t.Errorf("%s: documented path parameters %v, want %v", rt.name, path, wantPath)
		}

		public := rt.Access == auth.Public
		switch {
		case public && (op.Security == nil || len(*op.Security) != 0):
			t.Errorf("%s is public: its operation needs security: []", rt.name)
		case !public && op.Security != nil:
			t.Errorf("%s needs a token: its operation must keep the default bearer security", rt.name)
		}

		statuses := []int{400}
		if !public {
			statuses = append(statuses, 401, 403)
		}
		if len(wantPath) > 0 {
			statuses = append(statuses, 404)
		}
		if !rt.unlimited && rt.name != "openapi" {
			statuses = append(statuses, 429, 503)
		}
		if rt.method == "POST" {
			statuses = append(statuses, 413)
		}
		for _, st := range statuses {
			if op.Responses.Status(st) == nil {
				t.Errorf("%s: the document lacks its %d response", rt.name, st)
			}
		}
	}
	for key := range documented {
		t.Errorf("api/openapi.json has %s, which no route serves", key)
	}
}

// TestOpenAPIServed: GET /v1/openapi.json is public and answers the embedded document with an
// ETag, and 304 when the client already has it.
func TestOpenAPIServed(t *testing.T) {
	n := newTestNode(t)
	r := n.get("/v1/openapi.json", "")
	if r.status != 200 || !bytes.Equal(r.body, api.OpenAPI) {
		t.Fatalf("GET /v1/openapi.json: %d, %d bytes (want 200 and the %d embedded)", r.status, len(r.body), len(api.OpenAPI))
	}
	etag := r.header.Get("ETag")
	if etag == "" || r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") == "" {
		t.Errorf("headers %v", r.header)
	}
	for _, c := range []struct {
		inm  string
		want int
	}{{etag, 304}, {"W/" + etag, 304}, {`"other", ` + etag, 304}, {"*", 304}, {`"other"`, 200}, {strings.Trim(etag, `"`), 200}} {
		req, _ := http.NewRequest("GET", n.url+"/v1/openapi.json", nil)
		req.Header.Set("If-None-Match", c.inm)
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("If-None-Match %s: %d, want %d", c.inm, resp.StatusCode, c.want)
		}
	}
}
