// Command genfixture writes the upgrade fixture of a release: it builds the release's binary
// from its git tag, runs a three-node cluster of it on 127.0.0.1, seeds it with
// upgradetest.History, records the answers of every data route, stops the nodes (SIGTERM) and
// writes their data folders (cluster.tar.gz) and the answers (fixture.json) to
// testdata/upgrade/<tag>/. Run it from the repository root:
//
//	go run ./internal/upgradetest/genfixture -tag v0.1.0
//
// The fixtures are committed (see testdata/upgrade/README.md for why); run this once per
// release, when the release is tagged.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"paimon/internal/upgradetest"
)

func main() {
	tag := flag.String("tag", "", "release tag, e.g. v0.1.0")
	out := flag.String("out", "", "output folder (default testdata/upgrade/<tag>)")
	flag.Parse()
	if *tag == "" {
		fmt.Fprintln(os.Stderr, "genfixture: -tag is required")
		os.Exit(2)
	}
	if *out == "" {
		*out = filepath.Join("testdata", "upgrade", *tag)
	}
	if err := run(*tag, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genfixture:", err)
		os.Exit(1)
	}
}

func run(tag, out string) error {
	wd, _ := os.Getwd()
	repo, err := upgradetest.RepoRoot(wd)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "paimon-fixture-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "paimon-"+tag)
	fmt.Println("building", tag)
	if err := upgradetest.BuildRelease(repo, tag, bin); err != nil {
		return err
	}
	commit, err := exec.Command("git", "-C", repo, "rev-list", "-n1", tag).Output()
	if err != nil {
		return err
	}
	data := filepath.Join(tmp, "data")
	nodes := upgradetest.FixtureNodes(data)
	var procs []*upgradetest.Proc
	defer func() {
		for _, p := range procs {
			p.Kill()
		}
	}()
	for _, n := range nodes {
		p, err := upgradetest.Start(bin, n, nodes)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	fail := func(err error) error {
		for _, p := range procs {
			fmt.Fprintf(os.Stderr, "--- %s log:\n%s", p.Node.ID, p.Logs())
		}
		return err
	}
	for _, n := range nodes {
		if err := upgradetest.WaitReady(n.HTTP, 30*time.Second); err != nil {
			return fail(err)
		}
	}
	hist, err := upgradetest.History()
	if err != nil {
		return err
	}
	fmt.Println("seeding", len(hist), "requests")
	if err := upgradetest.Seed(nodes, hist); err != nil {
		return fail(err)
	}
	idx, err := upgradetest.WaitConverged(nodes, 30*time.Second)
	if err != nil {
		return fail(err)
	}
	if err := upgradetest.WaitFor(30*time.Second, func() error {
		for _, n := range nodes {
			if !upgradetest.HasSnapshot(n.Dir) {
				return fmt.Errorf("%s has no snapshot yet", n.ID)
			}
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	answers, err := upgradetest.Record(nodes[0].HTTP)
	if err != nil {
		return fail(err)
	}
	for _, n := range nodes[1:] {
		if d := upgradetest.Compare(n.HTTP, answers); len(d) > 0 {
			return fail(fmt.Errorf("%s answers differently from node1: %s", n.ID, strings.Join(d, "\n")))
		}
	}
	// Followers first, the leader last, as an operator would stop them.
	l, err := upgradetest.Leader(nodes)
	if err != nil {
		return fail(err)
	}
	for i, p := range procs {
		if i != l {
			p.Stop(20 * time.Second)
		}
	}
	procs[l].Stop(20 * time.Second)
	procs = nil

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fx := upgradetest.Fixture{Release: tag, Commit: strings.TrimSpace(string(commit)), AppliedIndex: idx, Answers: answers}
	b, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "fixture.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, n := range nodes {
		_ = os.Remove(n.Dir + ".toml")
	}
	tar := exec.Command("tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=2026-01-01", "-czf",
		filepath.Join(wd, out, "cluster.tar.gz"), "-C", data, "node1", "node2", "node3")
	if b, err := tar.CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %w: %s", err, b)
	}
	fmt.Printf("wrote %s: %d answers, applied index %d\n", out, len(answers), idx)
	return nil
}
