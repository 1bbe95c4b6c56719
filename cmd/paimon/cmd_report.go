package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"paimon/node"
	"paimon/report"
)

const reportUsage = `usage:
  paimon report daily|weekly|monthly -date YYYY-MM-DD [-format json|csv|pdf] [-o FILE]
                [-url http://127.0.0.1:8080] [-token T] [-ca FILE] [-insecure]
      fetch the fund's report of the period (UTC day, ISO week from Monday, calendar month)
      containing -date from a node (GET /v1/reports/{kind}, viewer) and write it to -o
      (default: standard output; "-o ." names the file as the node does, e.g.
      paimon-daily-2025-01-06.pdf). The token defaults to $PAIMON_TOKEN, else
      ./data/admin.token when it exists. -ca trusts a private CA (PEM) for https://, -insecure
      any certificate (testing only).
`

func reportCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, reportUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	kind, err := report.ParseKind(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "paimon report: %v\n\n%s", err, reportUsage)
		return 2
	}
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage) }
	date := fs.String("date", "", "a day of the period, YYYY-MM-DD (UTC)")
	format := fs.String("format", "json", "json, csv or pdf")
	out := fs.String("o", "", "output file (default standard output; a directory: the node's file name)")
	base := fs.String("url", "http://127.0.0.1:8080", "the node's HTTP API")
	token := fs.String("token", os.Getenv("PAIMON_TOKEN"), "API or session token (default $PAIMON_TOKEN, else data/admin.token)")
	caFile := fs.String("ca", "", "PEM file of a CA to trust for https:// besides the system roots")
	insecure := fs.Bool("insecure", false, "accept any certificate for https:// (testing only)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Validate locally what the node would refuse, with the same messages.
	d, err := report.ParseDate(*date)
	if err == nil {
		_, err = report.ParseFormat(*format)
	}
	if err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintf(stderr, "paimon report: %v\n", err)
		return 2
	}
	if *token == "" {
		if b, err := os.ReadFile(filepath.Join("data", node.LocalAdminTokenFile)); err == nil {
			*token = strings.TrimSpace(string(b))
		}
	}
	tlsCfg, err := watchTLS(*caFile, *insecure)
	if err != nil {
		fmt.Fprintf(stderr, "paimon report: %v\n", err)
		return 2
	}
	u := strings.TrimRight(*base, "/") + "/v1/reports/" + string(kind) + "?" +
		url.Values{"date": {*date}, "format": {*format}}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintf(stderr, "paimon report: %v\n", err)
		return 2
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "paimon report: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(stderr, "paimon report: %v\n", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			fmt.Fprintf(stderr, "paimon report: %s: %s %s\n", resp.Status, e.Error.Code, e.Error.Message)
		} else {
			fmt.Fprintf(stderr, "paimon report: %s: %.300s\n", resp.Status, body)
		}
		return 1
	}
	if *out == "" || *out == "-" {
		_, err = stdout.Write(body)
	} else {
		path := *out
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			path = filepath.Join(path, report.PeriodOf(kind, d).FileName(report.Format(*format)))
		}
		if err = os.WriteFile(path, body, 0o644); err == nil {
			fmt.Fprintf(stderr, "paimon report: wrote %s (%d bytes)\n", path, len(body))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "paimon report: %v\n", err)
		return 1
	}
	return 0
}
