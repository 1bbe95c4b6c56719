package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"paimon/config"
	"paimon/node"
	"paimon/pgsync"
)

const pgUsage = `usage:
  paimon pg verify [-config FILE] [-token T] [-wait 30s] [-offline]
      compare the node's state with PostgreSQL table by table (counts, sums, then the
      differing keys); exits 1 when they differ. It asks the running node (GET
      /v1/admin/pg/verify with the token, PAIMON_TOKEN, the cluster secret, or the local
      admin token); with -offline, or when the node does not answer, it reads the stopped
      node's data folder itself.
  paimon pg restore [-config FILE]
      build the configured, empty data folder from PostgreSQL, so that a cluster that lost
      every node can be rebuilt from the system of record; start the node afterwards.
`

func pgCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "restore") {
		fmt.Fprint(stderr, pgUsage)
		return 2
	}
	fs := flag.NewFlagSet("pg "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config file (the one the node runs with)")
	token := fs.String("token", os.Getenv("PAIMON_TOKEN"), "admin token for the running node (default $PAIMON_TOKEN)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for PostgreSQL to catch up before comparing")
	offline := fs.Bool("offline", false, "read the stopped node's data folder instead of asking the node")
	overrides := config.RegisterFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(*path)
	if err == nil {
		err = cfg.ApplyEnv(os.LookupEnv)
	}
	if err == nil {
		overrides.Apply(cfg)
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "paimon: %v\n", err)
		return 2
	}
	if cfg.Postgres.DSN == "" {
		fmt.Fprintln(stderr, "paimon: postgres.dsn is empty in the configuration: there is no system of record to use")
		return 2
	}
	ctx := context.Background()
	if args[0] == "restore" {
		logger, _ := newLogger(config.Log{Level: "warn", Format: "text"}, stderr)
		progress := func(line string) { fmt.Fprintln(stdout, line) }
		idx, n, err := node.Restore(ctx, cfg, logger, progress)
		if err != nil {
			fmt.Fprintf(stderr, "paimon: restore: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "data folder %s holds %d records at Raft index %d; start it with: paimon serve", cfg.Node.DataDir, n, idx)
		if *path != "" {
			fmt.Fprintf(stdout, " -config %s", *path)
		}
		fmt.Fprintln(stdout)
		return 0
	}

	var rep *pgsync.Report
	if !*offline {
		rep, err = verifyOnline(ctx, cfg, *token, *wait)
		if errors.Is(err, errNodeDown) {
			fmt.Fprintf(stderr, "the node at %s does not answer; reading its data folder %s\n", cfg.HTTPAdvertise(), cfg.Node.DataDir)
			*offline = true
		} else if err != nil {
			fmt.Fprintf(stderr, "paimon: verify: %v\n", err)
			return 2
		}
	}
	if *offline {
		if rep, err = node.VerifyOffline(ctx, cfg); err != nil {
			fmt.Fprintf(stderr, "paimon: verify: %v\n", err)
			return 2
		}
	}
	fmt.Fprint(stdout, rep.String())
	if rep.Differences > 0 {
		return 1
	}
	return 0
}

var errNodeDown = errors.New("node does not answer")

// verifyOnline asks the running node to compare its state with PostgreSQL.
func verifyOnline(ctx context.Context, cfg *config.Config, token string, wait time.Duration) (*pgsync.Report, error) {
	if token == "" {
		token = cfg.Cluster.Secret
	}
	if token == "" {
		if b, err := os.ReadFile(filepath.Join(cfg.Node.DataDir, node.LocalAdminTokenFile)); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	// The node serves HTTPS when [http] has a certificate; trust it as the members do.
	scheme, client := "http", &http.Client{Timeout: wait + 5*time.Minute}
	if _, peers, err := node.LoadHTTPTLS(cfg); err != nil {
		return nil, err
	} else if peers != nil {
		scheme, client.Transport = "https", &http.Transport{TLSClientConfig: peers}
	}
	url := fmt.Sprintf("%s://%s/v1/admin/pg/verify?wait=%s", scheme, cfg.HTTPAdvertise(), wait)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNodeDown, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s answered %d: %s", cfg.HTTPAdvertise(), resp.StatusCode, body)
	}
	var rep pgsync.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fmt.Errorf("bad answer from the node: %w", err)
	}
	return &rep, nil
}
