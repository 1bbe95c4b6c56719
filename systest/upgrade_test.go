package systest

// The fixtures are generated once per release and committed (testdata/upgrade/README.md):
//
//	go run ./internal/upgradetest/genfixture -tag vX.Y.Z

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paimon/internal/testutil"
	"paimon/internal/upgradetest"
	"paimon/version"
)

// fixtureDirs lists the committed upgrade fixtures, one per release (testdata/upgrade/vX.Y.Z).
func fixtureDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("../testdata/upgrade/v*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no upgrade fixtures under testdata/upgrade (%v)", err)
	}
	return dirs
}

// extractFixture unpacks a fixture's data folders into a new temporary folder and returns the
// fixture and its nodes.
func extractFixture(t *testing.T, fixture string) (upgradetest.Fixture, []upgradetest.Node) {
	t.Helper()
	var fx upgradetest.Fixture
	b, err := os.ReadFile(filepath.Join(fixture, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", filepath.Join(fixture, "cluster.tar.gz"), "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("untar %s: %v: %s", fixture, err, out)
	}
	return fx, upgradetest.FixtureNodes(dir)
}

// startNode starts the current binary for n and kills it when the test ends.
func startNode(t *testing.T, n upgradetest.Node, all []upgradetest.Node) *upgradetest.Proc {
	t.Helper()
	return startBin(t, paimonBin, n, all)
}

func startBin(t *testing.T, bin string, n upgradetest.Node, all []upgradetest.Node) *upgradetest.Proc {
	t.Helper()
	p, err := upgradetest.Start(bin, n, all)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (%s) log:\n%s", n.ID, filepath.Base(bin), p.Logs())
		}
	})
	return p
}

// TestUpgradeFixtures starts the current binary on copies of every release's fixture (the
// data folders of a three-node cluster of that release): every node answers every recorded
// route as that release did (new fields allowed), before and after a restart. One node starts
// without its state folder, so it rebuilds it from the release's snapshot and log.
func TestUpgradeFixtures(t *testing.T) {
	for _, fixture := range fixtureDirs(t) {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			fx, nodes := extractFixture(t, fixture)
			if len(fx.Answers) < 30 {
				t.Fatalf("fixture has %d answers", len(fx.Answers))
			}
			if err := os.RemoveAll(filepath.Join(nodes[2].Dir, "state")); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				for _, n := range nodes {
					if err := upgradetest.WaitReady(n.HTTP, 30*time.Second); err != nil {
						t.Fatalf("%s %s: %v", when, n.ID, err)
					}
				}
				if _, err := upgradetest.WaitConverged(nodes, 30*time.Second); err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				for _, n := range nodes {
					if d := upgradetest.Compare(n.HTTP, fx.Answers); len(d) > 0 {
						t.Fatalf("%s: %s answers differently from %s (%d differences):\n%s", when, n.ID, fx.Release, len(d), strings.Join(d[:min(len(d), 10)], "\n"))
					}
				}
			}
			procs := make([]*upgradetest.Proc, len(nodes))
			for i, n := range nodes {
				procs[i] = startNode(t, n, nodes)
			}
			check("first start")
			// Every member runs this release: the leader raises the cluster version.
			if err := upgradetest.WaitFor(20*time.Second, func() error {
				for _, n := range nodes {
					st, err := upgradetest.GetStatus(n.HTTP)
					if err != nil {
						return err
					}
					if st.ClusterVersion != version.Cluster || st.Version != version.Cluster {
						return fmt.Errorf("%s: version %q, cluster version %q", n.ID, st.Version, st.ClusterVersion)
					}
					for _, m := range st.Nodes {
						if m.Version != version.Cluster {
							return fmt.Errorf("%s says %s supports %q", n.ID, m.ID, m.Version)
						}
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				b, err := os.ReadFile(filepath.Join(n.Dir, "FORMAT"))
				if err != nil || !strings.Contains(string(b), `"format":1`) {
					t.Fatalf("%s: format marker %q (%v)", n.ID, b, err)
				}
			}
			for _, p := range procs {
				p.Stop(20 * time.Second)
			}
			for i, n := range nodes {
				procs[i] = startNode(t, n, nodes)
			}
			check("after a restart")
		})
	}
}

// TestFutureFormatRefused: a data folder whose format marker names a format newer than this
// binary reads is refused at start, with a message naming the format and the release that
// wrote it, and is left byte for byte as it was.
func TestFutureFormatRefused(t *testing.T) {
	_, nodes := extractFixture(t, fixtureDirs(t)[0])
	n := nodes[0]
	if err := os.WriteFile(filepath.Join(n.Dir, "FORMAT"), []byte(`{"format":99,"release":"v9.9.0"}`+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg := n.Dir + ".toml"
	if err := os.WriteFile(cfg, []byte(upgradetest.Config(n, nodes)), 0o600); err != nil {
		t.Fatal(err)
	}
	before := testutil.DirDigest(t, n.Dir)
	code, stdout, stderr := runPaimon(t, "serve", "-config", cfg)
	if code == 0 {
		t.Fatalf("paimon serve on a future data folder exited 0:\n%s%s", stdout, stderr)
	}
	for _, want := range []string{"has format 99, written by paimon v9.9.0", "run paimon v9.9.0 or later"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, stderr)
		}
	}
	if after := testutil.DirDigest(t, n.Dir); after != before {
		t.Fatal("the refused data folder was changed")
	}
}
