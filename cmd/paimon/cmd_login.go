package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
)

const loginUsage = `usage:
  paimon login -key-file FILE [-url http://127.0.0.1:8080] [-ca FILE] [-insecure]
      sign in with a wallet key, as a wallet would: ask the node for a nonce, sign its message
      with personal_sign (EIP-191), log in, and print the session token (and, on stderr, the
      address, role and expiry). FILE holds the secp256k1 private key as hex (64 digits, 0x
      optional), the format of go-ethereum's crypto.SaveECDSA; keep it mode 0600. For scripts,
      bots and bootstrap admins; people sign in from their wallet app. The token works on every
      node of the cluster until it expires (30 minutes after its last extension by default) or
      is revoked with POST /v1/auth/logout.
`

func login(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, loginUsage) }
	base := fs.String("url", "http://127.0.0.1:8080", "the node's API")
	keyFile := fs.String("key-file", "", "file with the wallet's private key as hex")
	caFile := fs.String("ca", "", "PEM file of a CA to trust for https:// besides the system roots")
	insecure := fs.Bool("insecure", false, "accept any certificate for https:// (testing only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *keyFile == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, loginUsage)
		return 2
	}
	key, err := readKeyFile(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "paimon login: %v\n", err)
		return 2
	}
	tlsCfg, err := watchTLS(*caFile, *insecure)
	if err != nil {
		fmt.Fprintf(stderr, "paimon login: %v\n", err)
		return 2
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := walletLogin(ctx, client, strings.TrimSuffix(*base, "/"), key)
	if err != nil {
		fmt.Fprintf(stderr, "paimon login: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, res.Token)
	fmt.Fprintf(stderr, "signed in as %s, role %s, until %s\n", res.Address, res.Role, res.ExpiresAt)
	return 0
}

// readKeyFile reads a hex secp256k1 private key.
func readKeyFile(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimPrefix(strings.TrimSpace(string(b)), "0x")
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("%s: want the private key as 64 hex digits", path)
	}
	key, err := crypto.ToECDSA(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return key, nil
}

type loginResult struct {
	Token     string `json:"token"`
	Address   string `json:"address"`
	Role      string `json:"role"`
	ExpiresAt string `json:"expiresAt"`
}

// walletLogin runs the login of API.md: nonce, personal_sign of its message, login.
func walletLogin(ctx context.Context, client *http.Client, base string, key *ecdsa.PrivateKey) (*loginResult, error) {
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	var nonce struct{ Nonce, Message string }
	if err := postJSON(ctx, client, base+"/v1/auth/nonce", map[string]string{"address": addr}, &nonce); err != nil {
		return nil, err
	}
	if !strings.Contains(nonce.Message, addr) || !strings.Contains(nonce.Message, nonce.Nonce) {
		return nil, fmt.Errorf("the node's login message does not name %s and its nonce; not signing it:\n%s", addr, nonce.Message)
	}
	sig, err := crypto.Sign(accounts.TextHash([]byte(nonce.Message)), key)
	if err != nil {
		return nil, err
	}
	sig[64] += 27
	var res loginResult
	body := map[string]string{"address": addr, "nonce": nonce.Nonce, "signature": "0x" + hex.EncodeToString(sig)}
	if err := postJSON(ctx, client, base+"/v1/auth/login", body, &res); err != nil {
		return nil, err
	}
	if res.Token == "" {
		return nil, errors.New("the node answered the login without a token")
	}
	return &res, nil
}

// postJSON posts v and decodes a 200 answer into out; any other answer is an error with the
// API's error code and message.
func postJSON(ctx context.Context, client *http.Client, url string, v, out any) error {
	b, _ := json.Marshal(v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("POST %s: %d %s: %s", url, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("POST %s: %d %.200s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("POST %s: bad answer: %v", url, err)
	}
	return nil
}
