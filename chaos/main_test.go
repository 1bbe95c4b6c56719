package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var (
	// flagDuration is how long the nemesis injects faults; the suite's default is short.
	flagDuration = flag.Duration("chaos.duration", 20*time.Second, "how long the nemesis injects faults")
	// flagSeed replays a campaign; 0 draws a seed from the clock (and logs it).
	flagSeed = flag.Int64("chaos.seed", 0, "nemesis and client seed (0: from the clock)")
	// flagOut is where a failed check writes its history and visualisation.
	flagOut = flag.String("chaos.out", "", "folder for failure files (default: the OS temp folder)")
	// flagKnownBugs keeps the faults and checks of knownBugs out of the run ("mask", the suite's
	// default, so that main stays green while they are open) or in it ("check").
	// flagFaults limits the nemesis to these faults (comma-separated names), e.g. to replay or
	// to exercise one; empty: all.
	flagFaults = flag.String("chaos.faults", "", "comma-separated faults the nemesis draws from (default all)")
	// flagIdentifyCost replays chaos/DESIGN.md Findings 6 (cluster.identify).
	flagIdentifyCost = flag.Duration("chaos.identify-cost", 0, "make every proxy's naming of a connection's source take this long, one at a time (replays Findings 6; 0: off)")
	flagKnownBugs    = flag.String("chaos.known-bugs", "mask", "mask: leave out the faults and checks of open bugs (chaos/DESIGN.md); check: run everything")
)

// paimonBin is the binary TestMain built from ./cmd/paimon (without the race detector: only
// the test process, which records and checks the history, runs with it).
var paimonBin string

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(holdSocketsEnv)); err == nil {
		holdSockets(n) // a child of TestConnOwnerCostFlat
		return
	}
	flag.Parse()
	dir, err := os.MkdirTemp("", "paimon-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	paimonBin = filepath.Join(dir, "paimon")
	if out, err := exec.Command("go", "build", "-o", paimonBin, "paimon/cmd/paimon").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/paimon: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
