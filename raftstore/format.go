package raftstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"paimon/version"
)

// DataFormat is the format of the data directory this release writes: the layout of raft/ and
// state/ and the versions of what they hold (commands, records, snapshots). Format 1 is
// v0.1.0's, which wrote no marker. A release that changes what is on disk in a way an older
// release cannot read raises it and adds a conversion (below) from the previous format.
const DataFormat = 1

// formatFile is the data directory's format marker.
const formatFile = "FORMAT"

// formatMarker is the content of the FORMAT file.
type formatMarker struct {
	Format int `json:"format"`
	// Release is the release that wrote the marker: the one an operator needs to read a format
	// newer than theirs.
	Release string `json:"release"`
}

// conversion brings a data directory from format from to from+1. It runs at start, before Raft,
// on the open state; it must be idempotent (a crash halfway is followed by a complete run at the
// next start, before which the marker still names the old format) and report its progress.
type conversion struct {
	from int
	name string
	run  func(s *Store, progress func(done, total int)) error
}

// formatPlan is the format a store writes and the conversions that lead to it: DataFormat and
// the list below in production; tests give a store a plan of their own.
type formatPlan struct {
	current     int
	conversions []conversion
}

// currentPlan lists every conversion in order. None yet: format 1 is still current.
func currentPlan() formatPlan { return formatPlan{current: DataFormat} }

// readFormat reads the data directory's format without changing anything on disk. A directory
// without a marker is format 1 if it holds a v0.1.0 store, else new (DataFormat).
func readFormat(dir string, current int) (formatMarker, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, formatFile))
	if errors.Is(err, os.ErrNotExist) {
		for _, sub := range []string{"raft", "state"} {
			if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
				return formatMarker{Format: 1, Release: "v0.1.0"}, false, nil
			}
		}
		return formatMarker{Format: current, Release: version.Release()}, false, nil
	}
	if err != nil {
		return formatMarker{}, false, fmt.Errorf("read format marker: %w", err)
	}
	var m formatMarker
	if err := json.Unmarshal(b, &m); err != nil || m.Format < 1 {
		return formatMarker{}, false, fmt.Errorf("%w: format marker %s holds %q", ErrCorrupt, filepath.Join(dir, formatFile), b)
	}
	return m, true, nil
}

// checkFormat refuses a data directory written in a format newer than this release reads. It
// runs before anything is opened, so a refused directory is left byte for byte as it was.
func checkFormat(dir string, current int) (formatMarker, bool, error) {
	m, exists, err := readFormat(dir, current)
	if err != nil {
		return m, exists, err
	}
	if m.Format > current {
		by := "a newer release"
		if m.Release != "" {
			by = "paimon " + m.Release
		}
		return m, exists, fmt.Errorf("%w: data directory %s has format %d, written by %s; this release (%s) reads formats up to %d: run %s or later on it (nothing was changed)",
			ErrFutureFormat, dir, m.Format, by, version.Release(), current, by)
	}
	return m, exists, nil
}

// convert runs the conversions from the directory's format to the current one, then writes the
// marker. The marker is written last (atomically), so a crash leaves the old format named and
// the next start runs the conversions again.
func (s *Store) convert(m formatMarker, exists bool) error {
	current := s.format.current
	for _, c := range s.format.conversions {
		if c.from < m.Format || c.from >= current {
			continue
		}
		start := time.Now()
		s.logger.Info("data directory conversion started", "dir", s.cfg.Dir, "from_format", c.from, "to_format", c.from+1, "conversion", c.name)
		last := time.Now()
		err := c.run(s, func(done, total int) {
			if time.Since(last) >= time.Second || done == total {
				last = time.Now()
				s.logger.Info("data directory conversion progress", "conversion", c.name, "done", done, "total", total)
			}
		})
		if err != nil {
			return fmt.Errorf("convert data directory from format %d (%s): %w", c.from, c.name, err)
		}
		s.logger.Info("data directory conversion done", "conversion", c.name, "took", time.Since(start).String())
	}
	if exists && m.Format == current {
		return nil
	}
	if m.Format != current {
		s.logger.Info("data directory upgraded", "dir", s.cfg.Dir, "from_format", m.Format, "to_format", current)
	}
	b, _ := json.Marshal(formatMarker{Format: current, Release: version.Release()})
	tmp := filepath.Join(s.cfg.Dir, formatFile+".tmp")
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("write format marker: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.cfg.Dir, formatFile)); err != nil {
		return fmt.Errorf("write format marker: %w", err)
	}
	return syncDir(s.cfg.Dir)
}
