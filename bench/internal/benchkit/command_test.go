package benchkit

import (
	"context"
	"errors"
	"flag"
	"syscall"
	"testing"
)

func TestCommandMain(t *testing.T) {
	parse := func(args []string) (bool, error) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		hold := fs.Bool("hold", false, "a signal ends the run normally")
		return *hold, fs.Parse(args)
	}
	failed := errors.New("failed")
	interrupt := func(ctx context.Context) error {
		// NotifyContext catches the signal: it cancels ctx instead of ending the test binary.
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}
	for _, tc := range []struct {
		name string
		args []string
		run  func(ctx context.Context) error
		want int
	}{
		{"ok", nil, func(context.Context) error { return nil }, 0},
		{"help", []string{"-h"}, nil, 0},
		{"bad flag", []string{"-nope"}, nil, 2},
		{"failure", nil, func(context.Context) error { return failed }, 1},
		{"interrupted", nil, interrupt, 130},
		{"signal ends a hold", []string{"-hold"}, interrupt, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var command string
			c := Command[bool]{
				Name: "test", Pkg: "./bench/test", Parse: parse,
				Run: func(ctx context.Context, _ bool, cmd string) error {
					command = cmd
					return tc.run(ctx)
				},
				Interrupted: func(hold bool) string {
					if hold {
						return ""
					}
					return "stopped everything"
				},
			}
			if got := c.Main(tc.args); got != tc.want {
				t.Errorf("Main(%q) = %d, want %d", tc.args, got, tc.want)
			}
			if tc.run != nil && command != CommandLine("./bench/test", tc.args) {
				t.Errorf("Run got command %q", command)
			}
		})
	}
}
