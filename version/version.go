// Package version names this build: its release, commit and build date, and the cluster
// version it supports (the feature level a mixed-version cluster agrees on).
package version

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// Set at build time by the Makefile:
//
//	go build -ldflags "-X paimon/version.release=v0.2.0 -X paimon/version.commit=... -X paimon/version.date=..."
//
// A plain `go build` or `go run` leaves them empty; Get then falls back to the VCS stamp Go
// records in the binary (vcs.revision, vcs.time) and the release "devel".
var release, commit, date string

// Cluster is the highest cluster version this binary supports: "major.minor" of the release
// that introduced the newest replicated or persisted format it can write. A cluster's
// replicated clusterVersion never exceeds the lowest Cluster of its voters, and a command an
// older member could not apply is proposed only once clusterVersion reaches the version that
// introduced it. A release that adds such a command or field raises Cluster (see CHANGELOG.md).
const Cluster = "0.2"

// Base is the cluster version of a cluster that never recorded one: v0.1.0, which had no
// notion of it.
const Base = "0.1"

// Info describes this build.
type Info struct {
	Release string `json:"release"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Cluster string `json:"clusterVersion"`
	Go      string `json:"go"`
}

// Get returns this build's Info.
func Get() Info {
	in := Info{Release: release, Commit: commit, Date: date, Cluster: Cluster}
	if bi, ok := debug.ReadBuildInfo(); ok {
		in.Go = bi.GoVersion
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && release == "" && in.Commit != "" {
			in.Commit += "-dirty"
		}
	}
	if in.Release == "" {
		in.Release = "devel"
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	if in.Date == "" {
		in.Date = "unknown"
	}
	return in
}

// Release returns the release name ("v0.2.0", or "devel").
func Release() string { return Get().Release }

// String renders the info on one line, as `paimon version` prints it.
func (in Info) String() string {
	return fmt.Sprintf("paimon %s (commit %s, built %s, %s, cluster version %s)", in.Release, in.Commit, in.Date, in.Go, in.Cluster)
}

// Compare compares two cluster versions "major.minor": -1, 0 or +1. An empty or malformed
// version counts as lower than every valid one (a member that reports nothing is a release
// before cluster versions existed).
func Compare(a, b string) int {
	am, an, aok := parse(a)
	bm, bn, bok := parse(b)
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return -1
	case !bok:
		return 1
	case am != bm:
		return cmpInt(am, bm)
	}
	return cmpInt(an, bn)
}

// Valid reports whether v is a cluster version "major.minor".
func Valid(v string) bool {
	_, _, ok := parse(v)
	return ok
}

func parse(v string) (int, int, bool) {
	maj, min, ok := strings.Cut(v, ".")
	if !ok {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 || a > 9999 || b > 9999 {
		return 0, 0, false
	}
	return a, b, true
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
