package benchkit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModule makes dir a module named name with a main package that prints hello.
func writeModule(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module " + name + "\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	main := "package main\n\nfunc main() { println(\"hello\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindRepo(t *testing.T) {
	root := t.TempDir()
	writeModule(t, root, "paimon")
	other := t.TempDir()
	writeModule(t, other, "paimonx")

	t.Run("given", func(t *testing.T) {
		if got, err := FindRepo(root); err != nil || got != root {
			t.Errorf("FindRepo(root) = %q, %v", got, err)
		}
	})
	t.Run("given another module", func(t *testing.T) {
		if _, err := FindRepo(other); err == nil || !strings.Contains(err.Error(), "no go.mod declaring module paimon") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("found from below", func(t *testing.T) {
		t.Chdir(filepath.Join(root, "sub", "deeper"))
		if got, err := FindRepo(""); err != nil || got != root {
			t.Errorf("FindRepo(\"\") = %q, %v", got, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		t.Chdir(filepath.Join(other, "sub"))
		if _, err := FindRepo(""); err == nil || !strings.Contains(err.Error(), "pass -repo") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestGoBuild(t *testing.T) {
	root := t.TempDir()
	writeModule(t, root, "paimon")
	out := filepath.Join(t.TempDir(), "hello")
	if err := GoBuild(context.Background(), root, out, ".", "-trimpath"); err != nil {
		t.Fatal(err)
	}
	if got := FirstLine(out); got != "hello" {
		t.Errorf("built binary printed %q", got)
	}
	if err := os.WriteFile(filepath.Join(root, "bad.go"), []byte("package main\n\nfunc broken() {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := GoBuild(context.Background(), root, out, ".")
	if err == nil || !strings.Contains(err.Error(), "go build .") || !strings.Contains(err.Error(), "bad.go") {
		t.Errorf("a broken package: %v", err)
	}
}

func TestRemoveTemp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	RemoveTemp(dir, true, &err)
	if _, statErr := os.Stat(dir); err != nil || statErr != nil {
		t.Fatalf("keep: err %v, stat %v", err, statErr)
	}
	RemoveTemp(dir, false, &err)
	if _, statErr := os.Stat(dir); err != nil || !os.IsNotExist(statErr) {
		t.Errorf("remove: err %v, stat %v", err, statErr)
	}
}
