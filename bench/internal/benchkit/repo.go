package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FindRepo returns the root of the paimon module: dir if given (it must hold a go.mod
// declaring "module paimon"), else the nearest folder at or above the working directory whose
// go.mod declares it. The runners build the node from that root and resolve their relative
// paths against it, so they work from any folder of the repository.
func FindRepo(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if isPaimonRoot(d) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				return "", fmt.Errorf("no paimon go.mod at or above %s: run from the repository or pass -repo", wd)
			}
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if !isPaimonRoot(abs) {
		return "", fmt.Errorf("%s has no go.mod declaring module paimon", abs)
	}
	return abs, nil
}

func isPaimonRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(line)) == "module paimon"
}

// GoBuild builds pkg (a package path relative to repo, such as "." or "./bench/bare") into
// the binary out, with extra go build flags before the package. A failure carries the
// compiler's output.
func GoBuild(ctx context.Context, repo, out, pkg string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// RemoveTemp removes a run's temporary folder dir or, with keep, prints that it was kept. It
// is meant to be deferred: a failure to remove becomes *err unless an error is already being
// returned.
func RemoveTemp(dir string, keep bool, err *error) {
	if keep {
		fmt.Printf("kept %s\n", dir)
		return
	}
	if rmErr := os.RemoveAll(dir); rmErr != nil && *err == nil {
		*err = rmErr
	}
}
