package upgradetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseRevision: a clone without tags still finds v0.1.0 by its commit, and a tag that
// names another commit than Releases says is refused.
func TestReleaseRevision(t *testing.T) {
	wd, _ := os.Getwd()
	repo, err := RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	clone := filepath.Join(t.TempDir(), "clone")
	git(repo, "clone", "--quiet", "--no-tags", repo, clone)
	if tags := git(clone, "tag", "--list", "v0.1.0"); tags != "" {
		t.Fatalf("the clone has tag %q; the test needs one without", tags)
	}
	rev, err := releaseRevision(clone, "v0.1.0")
	if err != nil {
		t.Fatalf("without the tag: %v", err)
	}
	if rev != Releases["v0.1.0"] {
		t.Fatalf("without the tag: %s, want %s", rev, Releases["v0.1.0"])
	}

	git(clone, "tag", "v0.1.0", Releases["v0.1.0"])
	if rev, err := releaseRevision(clone, "v0.1.0"); err != nil || rev != Releases["v0.1.0"] {
		t.Fatalf("with the right tag: %s, %v", rev, err)
	}
	git(clone, "tag", "-f", "v0.1.0", Releases["v0.1.0"]+"~1")
	if _, err := releaseRevision(clone, "v0.1.0"); err == nil || !strings.Contains(err.Error(), "names commit") {
		t.Fatalf("a tag on another commit: %v, want a refusal", err)
	}
	if _, err := releaseRevision(clone, "v9.9.9"); err == nil {
		t.Fatal("an unknown release without a tag was accepted")
	}
}
