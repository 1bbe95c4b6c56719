package systest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"paimon/auth"
	"paimon/fund/fundtest"
	"paimon/internal/pgtest"
)

// writeConfig writes a node config with PostgreSQL sync and returns its path.
func writeConfig(t *testing.T, dir, name, dsn, httpAddr, token string, extra string) string {
	t.Helper()
	_, sum := auth.NewToken()
	_ = sum
	cfg := fmt.Sprintf(`
[node]
id = %q
data_dir = %q

[http]
addr = %q

[raft]
addr = %q

[postgres]
dsn = %q
interval = "50ms"
mark_interval = "200ms"

[ingest]
# The tests post the sample walkthrough and generated data sets, whose blocks overlap: each is
# applied at its place in the ledger order.
reorder_window_blocks = 10000000

[[auth.tokens]]
name = "root"
role = "admin"
sha256 = %q
%s`, name, filepath.Join(dir, name+"-data"), httpAddr, freePort(t), dsn, auth.TokenHash(token), extra)
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPGVerifyAndRestore runs a node that syncs to PostgreSQL, verifies it with `paimon pg
// verify` (no difference, then a difference after tampering), stops it, rebuilds a new data
// folder with `paimon pg restore`, and checks that the rebuilt node, and a node that joins it
// from nothing, answer the fund, account, redemption and ledger endpoints exactly as the
// original did.
func TestPGVerifyAndRestore(t *testing.T) {
	dir := t.TempDir()
	dsn := pgtest.NewDatabase(t)
	token := "pg-process-test-admin-token"
	addr := freePort(t)
	cfgPath := writeConfig(t, dir, "orig", dsn, addr, token, "")
	p := startProc(t, "serve", "-config", cfgPath, "-http-addr", addr)
	p.waitReady(10 * time.Second)

	post := func(p *proc, path, body string) {
		t.Helper()
		status, b, err := p.do("POST", path, token, body)
		if err != nil || status != 200 {
			t.Fatalf("POST %s: %d %s %v", path, status, b, err)
		}
	}
	sample, err := os.ReadFile("../examples/sample-logs.json")
	if err != nil {
		t.Fatal(err)
	}
	post(p, "/v1/admin/logs", string(sample))
	prices, _ := os.ReadFile("../examples/sample-prices.json")
	post(p, "/v1/admin/prices", string(prices))
	data := fundtest.Dataset(3, 300, 500, 40)
	bodies, err := fundtest.RequestBodies(data, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		post(p, "/v1/admin/logs", string(b))
	}

	var code int
	var out, errOut string
	if code, out, errOut = runPaimon(t, "pg", "verify", "-config", cfgPath, "-token", token); code != 0 || !strings.Contains(out, "no difference") {
		t.Fatalf("pg verify on a synced node: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("pg verify:\n%s", out)

	paths := []string{"/v1/fund/overview", "/v1/fund/nav/history", "/v1/fund/tiers", "/v1/fund/assets", "/v1/fund/flows", "/v1/prices",
		"/v1/redemptions?limit=1000", "/v1/redemptions/1", "/v1/transactions?limit=1000", "/v1/transactions?event=Transfer&limit=50",
		"/v1/approvals?limit=1000", "/v1/approvals/sla-report"}
	var owner string
	{
		_, b, _ := p.do("GET", "/v1/redemptions/1", token, "")
		owner = strings.Split(strings.Split(string(b), `"owner":"`)[1], `"`)[0]
	}
	paths = append(paths, "/v1/accounts/"+owner, "/v1/accounts/"+owner+"/transactions")
	want := map[string]string{}
	for _, path := range paths {
		status, b, err := p.do("GET", path, token, "")
		if err != nil || status != 200 {
			t.Fatalf("GET %s: %d %v", path, status, err)
		}
		want[path] = string(b)
	}

	// Tamper with the system of record: verify reports it and exits 1.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE accounts SET shares = shares + 1 WHERE address = $1`, owner); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = runPaimon(t, "pg", "verify", "-config", cfgPath, "-token", token); code != 1 || !strings.Contains(out, "DIFFERENT") {
		t.Fatalf("pg verify after tampering: exit %d\n%s", code, out)
	}
	if _, err := conn.Exec(ctx, `UPDATE accounts SET shares = shares - 1 WHERE address = $1`, owner); err != nil {
		t.Fatal(err)
	}

	// A stopped node can be verified from its folder.
	p.stop()
	if code, out, errOut = runPaimon(t, "pg", "verify", "-config", cfgPath, "-offline"); code != 0 {
		t.Fatalf("offline verify of the stopped node: exit %d\n%s%s", code, out, errOut)
	}
	// Every node is lost. A new node is built from PostgreSQL alone.
	addr2 := freePort(t)
	secret := "\n[cluster]\nsecret = \"pg-process-test-secret-0123456789\"\n"
	restored := writeConfig(t, dir, "rebuilt", dsn, addr2, token, secret)
	if code, out, errOut = runPaimon(t, "pg", "restore", "-config", restored); code != 0 {
		t.Fatalf("pg restore: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("pg restore:\n%s", out)
	if code, out, errOut = runPaimon(t, "pg", "restore", "-config", restored); code == 0 {
		t.Fatal("a second restore into the same folder succeeded")
	}
	p2 := startProc(t, "serve", "-config", restored, "-http-addr", addr2)
	p2.waitReady(15 * time.Second)
	compare := func(p *proc, who string) {
		t.Helper()
		for _, path := range paths {
			status, b, err := p.do("GET", path, token, "")
			if err != nil || status != 200 {
				t.Fatalf("%s GET %s: %d %v", who, path, status, err)
			}
			if string(b) != want[path] {
				t.Fatalf("%s answers GET %s differently:\n got %s\nwant %s", who, path, b, want[path])
			}
		}
	}
	// The first answers of a node that just joined are checked only once it is ready, which
	// it is only when it holds the cluster's log (its snapshot included).
	compare(p2, "the restored node")
	// The rebuilt node leads a cluster of one that new nodes join from empty folders.
	addr3 := freePort(t)
	joiner := writeConfig(t, dir, "joiner", dsn, addr3, token, fmt.Sprintf("\n[cluster]\nsecret = \"pg-process-test-secret-0123456789\"\njoin = [%q]\n", addr2))
	p3 := startProc(t, "serve", "-config", joiner, "-http-addr", addr3)
	p3.waitReady(15 * time.Second)
	compare(p3, "a node that joined the rebuilt one")
	// It goes on syncing from where PostgreSQL was, and writes keep working.
	post(p2, "/v1/admin/prices", fmt.Sprintf(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"999","time":"%d"}]}`, time.Now().Unix()))
	if code, out, errOut = runPaimon(t, "pg", "verify", "-config", restored, "-token", token); code != 0 {
		t.Fatalf("pg verify on the restored node: exit %d\n%s%s", code, out, errOut)
	}
}
