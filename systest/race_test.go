//go:build race

package systest

// raceEnabled: the tests run with the race detector, so the binary they start is built with it.
const raceEnabled = true
