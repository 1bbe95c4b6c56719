package testutil

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Field walks a decoded JSON value by a dotted path ("tiers.L1.value", "items.0.status"); nil if
// the path leads nowhere (a missing key, an index that is not a number or out of range).
func Field(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Fields maps dotted paths (see Field) to the values expected there, compared with fmt.Sprint.
type Fields map[string]any

// CheckFields reports, without stopping the test, every path of want whose value in got differs.
// A JSON number is compared in plain decimal notation (1e+21 as 1000000000000000000000).
func CheckFields(t testing.TB, what string, got any, want Fields) {
	t.Helper()
	for path, w := range want {
		g := Field(got, path)
		if f, ok := g.(float64); ok {
			g = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s.%s = %v, want %v", what, path, g, w)
		}
	}
}

// Pages walks a cursor-paginated list ({"items": [...], "nextCursor": "..."}) to its end and
// returns every item. get returns the decoded page after cursor ("" for the first) of at most
// limit items. Pages fails t on a page over the limit, a short page with a next cursor, or a
// list that does not end within 1,000 pages.
func Pages(t testing.TB, limit int, get func(cursor string) map[string]any) []any {
	t.Helper()
	var all []any
	cursor := ""
	for i := 0; i < 1000; i++ {
		body := get(cursor)
		items, _ := body["items"].([]any)
		if len(items) > limit {
			t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		all = append(all, items...)
		next, ok := body["nextCursor"].(string)
		if !ok {
			return all
		}
		if len(items) != limit {
			t.Fatalf("short page %d with a next cursor", len(items))
		}
		cursor = next
	}
	t.Fatal("pagination does not end")
	return nil
}
