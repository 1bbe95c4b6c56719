// Package executor declares the [executor] section: the key and limits with which the leader
// will send the fund's transactions (issue 12). The executor itself is not built yet.
package executor
