package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"paimon/bench/internal/benchkit"
)

// sizeRow is the bytes per response of one cached read in each coding (Content-Length of the
// body as sent; the coding the node chose, "" for identity).
type sizeRow struct {
	Path     string            `json:"path"`
	Identity int               `json:"identity"`
	Encoded  map[string]int    `json:"encoded"` // Accept-Encoding → body bytes
	Chosen   map[string]string `json:"chosen"`  // Accept-Encoding → Content-Encoding
}

var sizeCodings = []string{"gzip", "br", "zstd"}

// getEncoded fetches path with Accept-Encoding enc ("" sends "identity") and returns the body
// as sent, not decoded (Go's client decodes only the gzip it asked for itself), with the
// Content-Encoding of the answer.
func getEncoded(ctx context.Context, n *benchkit.Node, path string, auth bool, enc string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Base+path, nil)
	if err != nil {
		return nil, "", err
	}
	if enc == "" {
		enc = "identity"
	}
	req.Header.Set("Accept-Encoding", enc)
	if auth {
		req.Header.Set("Authorization", "Bearer "+n.Token)
	}
	resp, err := n.HTTP.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s (%s): %d %s", path, enc, resp.StatusCode, benchkit.Snippet(b))
	}
	return b, resp.Header.Get("Content-Encoding"), nil
}

// responseSizes reads every sizedReads path in identity and in each coding.
func responseSizes(ctx context.Context, n *benchkit.Node) ([]sizeRow, error) {
	var rows []sizeRow
	for _, r := range sizedReads {
		id, _, err := getEncoded(ctx, n, r.path, r.auth, "")
		if err != nil {
			return nil, err
		}
		row := sizeRow{Path: r.path, Identity: len(id), Encoded: map[string]int{}, Chosen: map[string]string{}}
		for _, enc := range sizeCodings {
			b, got, err := getEncoded(ctx, n, r.path, r.auth, enc)
			if err != nil {
				return nil, err
			}
			row.Encoded[enc], row.Chosen[enc] = len(b), got
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// printSizes prints the bytes per response before (identity) and after (each coding).
func printSizes(rows []sizeRow) {
	fmt.Printf("\nbytes per response (body), by Accept-Encoding; \"=\" marks a body the node sends as identity (under 1 KiB)\n")
	fmt.Printf("%-46s %9s", "cached read", "identity")
	for _, enc := range sizeCodings {
		fmt.Printf(" %15s", enc)
	}
	fmt.Println()
	fmt.Println(strings.Repeat("-", 56+16*len(sizeCodings)))
	for _, r := range rows {
		fmt.Printf("%-46s %9d", r.Path, r.Identity)
		for _, enc := range sizeCodings {
			cell := fmt.Sprintf("%d (%.0f %%)", r.Encoded[enc], 100*float64(r.Encoded[enc])/float64(max(r.Identity, 1)))
			if r.Chosen[enc] == "" {
				cell = fmt.Sprintf("%d =", r.Encoded[enc])
			}
			fmt.Printf(" %15s", cell)
		}
		fmt.Println()
	}
}
