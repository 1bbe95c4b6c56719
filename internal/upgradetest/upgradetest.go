// Package upgradetest holds what the upgrade tests and the fixture generator share: building
// the binary of an older release from its git tag, the three-node cluster configuration both
// the old and the current binary accept, the seeded history, and the API routes of v0.1.0
// whose answers must not change.
package upgradetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/fund/fundtest"
)

// RepoRoot returns the root of the module (the folder holding go.mod) from dir upwards.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// Releases are the commits the release tags point at. A clone made from a pushed branch need not
// carry the tags, but it always has the commits, so BuildRelease falls back to them; when the
// tag is there it must name the same commit.
var Releases = map[string]string{
	"v0.1.0": "22a57190c61829be7f8685ead9671fa267026472",
}

// releaseRevision is what to archive for a release: its tag, or its commit from Releases when
// the clone has no such tag.
func releaseRevision(repo, tag string) (string, error) {
	resolve := func(rev string) (string, error) {
		b, err := exec.Command("git", "-C", repo, "rev-parse", "--verify", "--quiet", rev+"^{commit}").Output()
		return strings.TrimSpace(string(b)), err
	}
	commit, known := Releases[tag]
	got, err := resolve(tag)
	switch {
	case err == nil && known && got != commit:
		return "", fmt.Errorf("tag %s names commit %s, but upgradetest.Releases says %s", tag, got, commit)
	case err == nil:
		return got, nil
	case !known:
		return "", fmt.Errorf("tag %s is not in the repository at %s and upgradetest.Releases does not name its commit (a shallow clone? run `git fetch --tags`): %w", tag, repo, err)
	}
	if _, err := resolve(commit); err != nil {
		return "", fmt.Errorf("release %s: neither its tag nor its commit %s is in the repository at %s (a shallow clone? run `git fetch --unshallow --tags`): %w", tag, commit, repo, err)
	}
	return commit, nil
}

// BuildRelease builds the paimon binary of a release tag to out: `git archive` of the tag from
// the repository at repo (which leaves the repository untouched, unlike a worktree), extracted
// into a temporary folder, then `go build` there (the module cache has the release's
// dependencies, or the module proxy does). The tag must be in the clone: `git clone` brings tags
// along; a shallow CI checkout needs `git fetch --tags`.
func BuildRelease(repo, tag, out string) error {
	rev, err := releaseRevision(repo, tag)
	if err != nil {
		return err
	}
	src, err := os.MkdirTemp("", "paimon-"+tag+"-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	archive := exec.Command("git", "-C", repo, "archive", "--format=tar", rev)
	untar := exec.Command("tar", "-x", "-C", src)
	var aerr, terr bytes.Buffer
	archive.Stderr, untar.Stderr = &aerr, &terr
	if untar.Stdin, err = archive.StdoutPipe(); err != nil {
		return err
	}
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", tag, err, aerr.Bytes())
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("untar %s: %w: %s", tag, err, terr.Bytes())
	}
	pkg := "."
	if _, err := os.Stat(filepath.Join(src, "cmd", "paimon")); err == nil {
		pkg = "./cmd/paimon"
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+tag+" -X paimon/version.release="+tag, "-o", abs, pkg)
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s of %s: %w\n%s", pkg, tag, err, b)
	}
	return nil
}

// Node is one member of a test cluster.
type Node struct {
	ID, HTTP, Raft, Dir string
	// LogSettings are the [raft] lines on snapshots and log compaction; empty is FixtureLog.
	LogSettings string
}

// FixtureLog takes a snapshot every 32 entries and keeps 16 behind it: small data folders that
// hold a snapshot and a compacted log. Under a steady write load a restarted follower would
// fall behind the compaction and catch up by snapshot again and again: use LoadLog there.
const FixtureLog = `snapshot_interval = "1s"
snapshot_threshold = 32
trailing_logs = 16`

// LoadLog is the default compaction, for clusters under writes.
const LoadLog = `snapshot_interval = "30s"
snapshot_threshold = 8192
trailing_logs = 10240`

// Secret is the cluster secret of the test clusters and fixtures.
const Secret = "upgrade-test-cluster-secret-0123456789"

// Token is the admin API token of the test clusters and fixtures (a test value, not a secret).
const Token = "upgrade-test-admin-token-000000000000000000000000"

// TokenSHA256 is Token's hash as the config names it.
func TokenSHA256() string {
	s := sha256.Sum256([]byte(Token))
	return hex.EncodeToString(s[:])
}

// Config is a node's TOML configuration, in keys every release since v0.1.0 reads. Small log
// segments and a low snapshot threshold keep the data directories small and put a snapshot
// (and a compacted log) into them.
func Config(n Node, all []Node) string {
	logSettings := n.LogSettings
	if logSettings == "" {
		logSettings = FixtureLog
	}
	join := make([]string, len(all))
	for i, m := range all {
		join[i] = fmt.Sprintf("%q", m.HTTP)
	}
	return fmt.Sprintf(`
[node]
id = %q
data_dir = %q

[http]
addr = %q

[raft]
addr = %q
heartbeat_timeout = "500ms"
election_timeout = "500ms"
leader_lease_timeout = "250ms"
%s
log_segment_bytes = 1048576
state_cache_mib = 8

[cache]
size_mib = 32

[cluster]
join = [%s]
bootstrap_expect = %d
secret = %q

[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = %q
`, n.ID, n.Dir, n.HTTP, n.Raft, logSettings, strings.Join(join, ", "), len(all), Secret, TokenSHA256())
}

// Request is one API request of the seeded history.
type Request struct {
	Method, Path, Body string
	// Session: the request is the wallet login of Wallet (nonce, signature, login).
	Login bool
}

// walletKey is the seeded history's wallet (a test key).
var walletKey, _ = crypto.HexToECDSA("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")

// WalletAddress is the address of the seeded history's wallet.
func WalletAddress() string {
	return strings.ToLower(crypto.PubkeyToAddress(walletKey.PublicKey).Hex())
}

// SignLogin signs a login message with the seeded wallet (EIP-191 personal_sign).
func SignLogin(message string) (string, error) {
	sig, err := crypto.Sign(accounts.TextHash([]byte(message)), walletKey)
	if err != nil {
		return "", err
	}
	sig[64] += 27
	return "0x" + hex.EncodeToString(sig), nil
}

// History is the seeded history: a generated fund (deposits, NAV points, redemptions in every
// state, transfers, prices from the oracle), operator prices, a role granted and removed, and
// a wallet login. Every command type of v0.1.0 but the ingest checkpoint is in it (the sync
// mark and touch come from the nodes themselves when PostgreSQL and sessions are in use).
func History() ([]Request, error) {
	data := fundtest.Generate(fundtest.Spec{Seed: 19, Holders: 40, NavHours: 72, Redemptions: 14})
	bodies, err := fundtest.RequestBodies(data.Logs(), 3<<10)
	if err != nil {
		return nil, err
	}
	var reqs []Request
	for _, b := range bodies {
		reqs = append(reqs, Request{Method: "POST", Path: "/v1/admin/logs", Body: string(b)})
	}
	prices := map[string]any{"prices": []map[string]string{
		{"asset": strings.ToLower(data.Assets[0].Hex()), "price": "1000000000000000000", "time": "2025-01-11T01:00:00Z"},
		{"asset": strings.ToLower(data.Assets[1].Hex()), "price": "1021500000000000000", "time": "2025-01-11T01:00:00Z"},
		{"asset": strings.ToLower(data.Assets[1].Hex()), "price": "1022000000000000000", "time": "2025-01-11T02:00:00Z"},
	}}
	pb, _ := json.Marshal(prices)
	reqs = append(reqs,
		Request{Method: "POST", Path: "/v1/admin/prices", Body: string(pb)},
		Request{Method: "POST", Path: "/v1/admin/roles", Body: fmt.Sprintf(`{"address":%q,"role":"operator"}`, strings.ToLower(data.Holders[0].Hex()))},
		Request{Method: "POST", Path: "/v1/admin/roles", Body: fmt.Sprintf(`{"address":%q,"role":"viewer"}`, strings.ToLower(data.Holders[1].Hex()))},
		Request{Method: "POST", Path: "/v1/admin/roles", Body: fmt.Sprintf(`{"address":%q,"role":"none"}`, strings.ToLower(data.Holders[0].Hex()))},
		Request{Login: true},
	)
	return reqs, nil
}

// Routes lists the GET requests whose answers the fixture records: every data route of v0.1.0
// with the query forms that select different code paths. get answers a GET with its body; the
// list grows from the answers (assets, accounts, redemption ids, a second page).
func Routes(get func(path string) ([]byte, error)) ([]string, error) {
	paths := []string{
		"/v1/fund/overview", "/v1/fund/nav/history", "/v1/fund/nav/history?interval=1h",
		"/v1/fund/nav/history?interval=raw&limit=20", "/v1/fund/tiers", "/v1/fund/assets",
		"/v1/fund/flows", "/v1/prices", "/v1/redemptions", "/v1/redemptions?status=SETTLED",
		"/v1/redemptions?status=PENDING&limit=3", "/v1/transactions", "/v1/transactions?limit=7",
		"/v1/transactions?event=Deposit&limit=5", "/v1/audit", "/v1/audit?limit=3", "/v1/admin/roles",
		"/v1/accounts/0x0000000000000000000000000000000000000001", "/v1/redemptions/999999",
	}
	var list struct {
		Items []struct {
			Asset, RequestID, Owner string
		}
		NextCursor *string `json:"nextCursor"`
	}
	b, err := get("/v1/prices")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("/v1/prices: %w", err)
	}
	for _, it := range list.Items {
		paths = append(paths, "/v1/prices/"+it.Asset, "/v1/prices/"+it.Asset+"?history=1")
	}
	list.Items = nil
	if b, err = get("/v1/redemptions?limit=6"); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("/v1/redemptions: %w", err)
	}
	seen := map[string]bool{}
	for _, it := range list.Items {
		paths = append(paths, "/v1/redemptions/"+it.RequestID)
		if it.Owner != "" && !seen[it.Owner] {
			seen[it.Owner] = true
			paths = append(paths, "/v1/accounts/"+it.Owner, "/v1/accounts/"+it.Owner+"/transactions?limit=5")
		}
	}
	list.Items, list.NextCursor = nil, nil
	if b, err = get("/v1/transactions?limit=7"); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("/v1/transactions: %w", err)
	}
	if list.NextCursor != nil {
		paths = append(paths, "/v1/transactions?limit=7&cursor="+*list.NextCursor)
	}
	return paths, nil
}

// Answer is one recorded API answer.
type Answer struct {
	Path   string          `json:"path"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// Contains reports where got lacks or changes something of want: every field of want must be in
// got with the same value (got may have more fields: a later release may add some); arrays must
// have the same length and match element by element. It returns "" when got contains want.
func Contains(want, got any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %v", at, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
			if d := Contains(wv, gv, at+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %d items, got %v", at, len(w), got)
		}
		for i := range w {
			if d := Contains(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); d != "" {
				return d
			}
		}
		return ""
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if !bytes.Equal(wb, gb) {
		return fmt.Sprintf("%s: want %s, got %s", at, wb, gb)
	}
	return ""
}

// FixtureNodes are the members of a fixture cluster, with data folders under dir. Their
// addresses are fixed: Raft's configuration and the replicated HTTP addresses in the fixture
// name them. The ports are below 20000, which the tests' free-port picker never hands out.
func FixtureNodes(dir string) []Node {
	nodes := make([]Node, 3)
	for i := range nodes {
		nodes[i] = Node{
			ID:   fmt.Sprintf("node%d", i+1),
			HTTP: fmt.Sprintf("127.0.0.1:%d", 19741+i),
			Raft: fmt.Sprintf("127.0.0.1:%d", 19731+i),
			Dir:  filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
		}
	}
	return nodes
}

// Fixture is what a fixture directory's fixture.json says.
type Fixture struct {
	Release      string   `json:"release"`
	Commit       string   `json:"commit"`
	AppliedIndex uint64   `json:"appliedIndex"`
	Answers      []Answer `json:"answers"`
}
