package raftstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"paimon/internal/testutil"
)

func readMarker(t *testing.T, dir string) formatMarker {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, formatFile))
	if err != nil {
		t.Fatal(err)
	}
	var m formatMarker
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFormatMarker: a new data directory gets the current format's marker; a directory without
// one (v0.1.0's) is format 1 and gets it at its first start; a directory from the future is
// refused at Open, naming its format and the release that wrote it, and is left byte for byte
// as it was.
func TestFormatMarker(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s := openStore(t, cfg, &counterSM{})
	propose(t, s, "a", "1")
	s.Close()
	if m := readMarker(t, dir); m.Format != DataFormat || m.Release == "" {
		t.Fatalf("marker %+v, want format %d and a release", m, DataFormat)
	}

	// A v0.1.0 directory: no marker.
	if err := os.Remove(filepath.Join(dir, formatFile)); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg, &counterSM{})
	s.Close()
	if m := readMarker(t, dir); m.Format != DataFormat {
		t.Fatalf("marker after opening a v0.1.0 directory: %+v", m)
	}

	future, _ := json.Marshal(formatMarker{Format: DataFormat + 7, Release: "v9.3.0"})
	if err := os.WriteFile(filepath.Join(dir, formatFile), future, 0o640); err != nil {
		t.Fatal(err)
	}
	before := testutil.DirDigest(t, dir)
	s, err := New(cfg, &counterSM{}, testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Open()
	want := fmt.Sprintf("has format %d, written by paimon v9.3.0", DataFormat+7)
	if !errors.Is(err, ErrFutureFormat) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run paimon v9.3.0 or later") {
		t.Fatalf("Open of a future directory: %v, want ErrFutureFormat with %q", err, want)
	}
	s.Close()
	if after := testutil.DirDigest(t, dir); after != before {
		t.Fatal("a refused data directory was changed")
	}
}

// TestFormatConversion: a conversion runs once at start, before the marker names the new
// format; one that stops halfway (a crash) runs again in full at the next start and gives the
// same state as a clean run.
func TestFormatConversion(t *testing.T) {
	convert := func(failAt int) conversion {
		return conversion{from: 1, name: "test: write k/conv keys", run: func(s *Store, progress func(done, total int)) error {
			const total = 10
			for i := range total {
				if i == failAt {
					return errors.New("crash")
				}
				if err := s.state.db.Set([]byte(fmt.Sprintf("k/conv%d", i)), []byte("v"), pebble.Sync); err != nil {
					return err
				}
				progress(i+1, total)
			}
			return nil
		}}
	}
	open := func(dir string, failAt int) (*Store, error) {
		s, err := New(testConfig(t, dir), &counterSM{}, testDeps(t))
		if err != nil {
			t.Fatal(err)
		}
		s.format = formatPlan{current: 2, conversions: []conversion{convert(failAt)}}
		return s, s.Open()
	}
	dirs := [2]string{t.TempDir(), t.TempDir()}
	for _, dir := range dirs {
		s := openStore(t, testConfig(t, dir), &counterSM{}) // format 1
		propose(t, s, "a", "1")
		s.Close()
	}
	// dirs[0]: crash halfway, then a complete run.
	s, err := open(dirs[0], 4)
	if err == nil || !strings.Contains(err.Error(), "crash") {
		t.Fatalf("interrupted conversion: %v", err)
	}
	s.Close()
	if m := readMarker(t, dirs[0]); m.Format != 1 {
		t.Fatalf("marker after an interrupted conversion: %+v, want format 1", m)
	}
	counts := [2]int{}
	for i, dir := range dirs {
		s, err := open(dir, -1)
		if err != nil {
			t.Fatal(err)
		}
		counts[i] = countKeys(t, s)
		s.Close()
		if m := readMarker(t, dir); m.Format != 2 {
			t.Fatalf("marker after the conversion: %+v, want format 2", m)
		}
	}
	if counts[0] != counts[1] || counts[0] < 10 {
		t.Fatalf("keys after an interrupted and a clean conversion: %v", counts)
	}
	// Once converted it does not run again: a failing conversion is not called.
	if s, err := open(dirs[1], 0); err != nil {
		t.Fatalf("conversion ran again: %v", err)
	} else {
		s.Close()
	}
}
