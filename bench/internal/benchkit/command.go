package benchkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Command is a benchmark runner as Main runs it; O is its parsed options.
type Command[O any] struct {
	Name string // "httpbench": the prefix of its messages on stderr
	Pkg  string // "./bench/httpbench": the command line it reports is "go run PKG ARGS..."

	// Parse reads the arguments. flag.ErrHelp (after -h) ends the run with status 0, another
	// error with status 2.
	Parse func(args []string) (O, error)
	// Run does the work under a context that SIGINT and SIGTERM cancel, with the command line
	// as the user typed it (see CommandLine). It must stop every child before it returns.
	Run func(ctx context.Context, o O, command string) error
	// Interrupted says what was stopped when Run failed after SIGINT or SIGTERM: Main prints
	// "NAME: interrupted; WHAT" and returns 130. "" makes such a failure an ordinary one, for a
	// run that a signal ends normally.
	Interrupted func(o O) string
}

// Main runs the command with args (os.Args[1:]) and returns its exit status: 0, 2 for bad
// arguments, 130 when interrupted, 1 for any other failure, which it prints.
func (c Command[O]) Main(args []string) int {
	o, err := c.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := c.Run(ctx, o, CommandLine(c.Pkg, args)); err != nil {
		if what := c.Interrupted(o); ctx.Err() != nil && what != "" {
			fmt.Fprintf(os.Stderr, "%s: interrupted; %s\n", c.Name, what)
			return 130
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		return 1
	}
	return 0
}
