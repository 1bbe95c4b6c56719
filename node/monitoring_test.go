package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"gopkg.in/yaml.v3"
)

// The monitoring files shipped in the repository (README, "Monitoring").
var (
	rulesFile     = filepath.Join("..", "deploy", "prometheus", "paimon-rules.yml")
	dashboardFile = filepath.Join("..", "deploy", "grafana", "paimon-dashboard.json")
)

// TestMonitoringFilesNameRealMetrics parses the Prometheus alert rules and the Grafana
// dashboard and checks that every metric they name is on a running node's /metrics: a metric
// renamed or removed fails here rather than silently in an operator's Prometheus.
func TestMonitoringFilesNameRealMetrics(t *testing.T) {
	rules := ruleExprs(t)
	panels := dashboardExprs(t)
	if len(rules) < 10 || len(panels) < 20 {
		t.Fatalf("%d rule and %d dashboard expressions: the files lost their content", len(rules), len(panels))
	}

	c := newCluster(t, 1)
	c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
	c.start(0)
	c.waitLeader(10 * time.Second)
	// Some traffic, so that every kind of series has been written at least once (histograms
	// show their buckets once they observed something).
	c.writeLog(0, transferLog(t, common.HexToAddress("0xa11ce"), 1, 5))
	c.do(0, "GET", "/v1/fund/overview", "", nil)
	exposed := exposedMetrics(t, c.do(0, "GET", "/metrics", "", nil).body)

	for _, set := range []struct {
		file  string
		exprs map[string]string
	}{{rulesFile, rules}, {dashboardFile, panels}} {
		for where, expr := range set.exprs {
			names, err := promMetricNames(expr)
			if err != nil {
				t.Errorf("%s, %s: %v in %q", set.file, where, err, expr)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s, %s: %q names no metric", set.file, where, expr)
			}
			for _, n := range names {
				if !strings.HasPrefix(n, "paimon_") {
					t.Errorf("%s, %s: %s is not a Paimon Edge metric", set.file, where, n)
				} else if !exposed[n] {
					t.Errorf("%s, %s: metric %s is not on /metrics", set.file, where, n)
				}
			}
		}
	}
}

// ruleExprs returns the alert rules' expressions by alert name, after checking that each rule
// has what Prometheus needs.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("%s: group %q without a name or rules", rulesFile, g.Name)
		}
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			switch {
			case (r.Alert == "") == (r.Record == ""):
				t.Errorf("%s: a rule of group %s needs alert or record, one of both", rulesFile, g.Name)
			case strings.TrimSpace(r.Expr) == "":
				t.Errorf("%s: %s has no expr", rulesFile, name)
			case r.Alert != "" && !validSeverity(r.Labels["severity"]):
				t.Errorf("%s: %s: severity label %q, want critical, warning or info", rulesFile, name, r.Labels["severity"])
			case r.Alert != "" && r.Annotations["summary"] == "":
				t.Errorf("%s: %s has no summary", rulesFile, name)
			case r.For != "" && !validDuration(r.For):
				t.Errorf("%s: %s: for %q is not a duration", rulesFile, name, r.For)
			}
			if _, dup := out[name]; dup {
				t.Errorf("%s: %s is declared twice", rulesFile, name)
			}
			out[name] = r.Expr
		}
	}
	return out
}

func validSeverity(s string) bool { return s == "critical" || s == "warning" || s == "info" }

func validDuration(s string) bool {
	if len(s) < 2 {
		return false
	}
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return strings.ContainsRune("smhdwy", rune(s[len(s)-1]))
}

// dashboardExprs returns the dashboard's target expressions by "panel title/refId", after
// checking the panels (unique ids, a datasource, a grid position).
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		ID         int                       `json:"id"`
		Type       string                    `json:"type"`
		Title      string                    `json:"title"`
		Datasource json.RawMessage           `json:"datasource"`
		GridPos    *struct{ H, W, X, Y int } `json:"gridPos"`
		Targets    []target                  `json:"targets"`
		Panels     []panel                   `json:"panels"`
	}
	var d struct {
		Title, UID    string
		SchemaVersion int `json:"schemaVersion"`
		Panels        []panel
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion == 0 {
		t.Fatalf("%s: title %q, uid %q, schemaVersion %d", dashboardFile, d.Title, d.UID, d.SchemaVersion)
	}
	out := map[string]string{}
	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: panel %q: id %d missing or not unique", dashboardFile, p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: panel %q: bad gridPos", dashboardFile, p.Title)
			}
			if p.Type != "row" && (len(p.Targets) == 0 || len(p.Datasource) == 0) {
				t.Errorf("%s: panel %q has no targets or no datasource", dashboardFile, p.Title)
			}
			for _, tg := range p.Targets {
				out[p.Title+"/"+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// exposedMetrics returns the metric names of a Prometheus text exposition (a histogram's
// _bucket, _sum and _count series by those names).
func exposedMetrics(t *testing.T, body []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			t.Fatalf("/metrics: malformed line %q", line)
		}
		out[line[:end]] = true
	}
	if len(out) < 50 {
		t.Fatalf("/metrics has only %d metrics", len(out))
	}
	return out
}

// promMetricNames returns the metric names a PromQL expression selects: the identifiers that
// are not functions (followed by '('), keywords, label names (inside {} or after by, without,
// on, ignoring, group_left, group_right), durations ([5m]) or strings. It checks that brackets
// balance.
func promMetricNames(expr string) ([]string, error) {
	keywords := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true, "inf": true, "nan": true,
		// aggregation operators, which may be followed by by/without rather than '('
		"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true, "stddev": true, "stdvar": true,
		"topk": true, "bottomk": true, "quantile": true, "count_values": true}
	labelLists := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	var names []string
	var stack []byte
	skipLabels := false // the next (...) is a label list
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (!first && c >= '0' && c <= '9')
	}
	inLabels := func() bool {
		for _, c := range stack {
			if c == '{' || c == '[' || c == 'l' {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string")
			}
			i = j + 1
		case c == '(' || c == '{' || c == '[':
			if c == '(' && skipLabels {
				c = 'l' // a label list
			}
			skipLabels = false
			stack = append(stack, c)
			i++
		case c == ')' || c == '}' || c == ']':
			open := map[byte]byte{')': '(', '}': '{', ']': '['}[c]
			if len(stack) == 0 || (stack[len(stack)-1] != open && !(c == ')' && stack[len(stack)-1] == 'l')) {
				return nil, fmt.Errorf("unbalanced %q", c)
			}
			stack = stack[:len(stack)-1]
			i++
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++ // a number (1e3, 0x1f) or a duration (5m)
			}
		case c == '$':
			for i++; i < len(expr) && isIdent(expr[i], false); i++ {
			} // a Grafana variable ($__rate_interval)
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			id := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			switch {
			case inLabels():
			case labelLists[id]:
				skipLabels = true
			case keywords[id]:
			case k < len(expr) && expr[k] == '(':
				// a function
			default:
				names = append(names, id)
			}
			i = j
		default:
			i++
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	sort.Strings(names)
	return names, nil
}

func TestPromMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string
	}{
		{`max(paimon_raft_leader) < 1`, "paimon_raft_leader"},
		{`histogram_quantile(0.99, sum by (le) (rate(paimon_fsm_apply_seconds_bucket[5m]))) > 0.5`, "paimon_fsm_apply_seconds_bucket"},
		{`sum by (route) (rate(paimon_http_requests_total{code=~"5..", route!="x(y"}[$__rate_interval])) / on (route) group_left (x) up`, "paimon_http_requests_total up"},
		{`a - b offset 5m and bool c`, "a b c"},
	} {
		got, err := promMetricNames(tc.expr)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{`max(a`, `a{b="c"`, `a)`, `a{b="c}`} {
		if _, err := promMetricNames(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
