// Package benchkit holds what the benchmark runners in bench/ share: finding the repository
// and building binaries in it, starting and stopping child processes (a node among them, on
// free loopback ports, loaded with a generated data set), describing the machine, a latency
// histogram, and the number formats of their reports.
//
// The runners (bench/httpbench, bench/mixed, bench/cluster, bench/ws, bench/seedplan) are separate commands
// with their own flags, phases and report layouts; benchkit has only the parts in which they
// do not differ. It prints nothing except where a function says so, and keeps no
// package-level state.
package benchkit
