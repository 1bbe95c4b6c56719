package systest

import (
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// TestLogin: `paimon login` signs in with a key file against a running node; the token it
// prints opens the wallet's session; bad key files are refused before any request.
func TestLogin(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freePort(t)
	p := startProc(t, "serve", "-data-dir", dir, "-http-addr", httpAddr, "-raft-addr", freePort(t))
	p.waitReady(20 * time.Second)

	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "wallet.key")
	if err := os.WriteFile(keyFile, []byte("0x"+hex.EncodeToString(crypto.FromECDSA(key))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runPaimon(t, "login", "-url", "http://"+httpAddr, "-key-file", keyFile)
	if code != 0 {
		t.Fatalf("login: exit %d: %s", code, errOut)
	}
	token := strings.TrimSpace(out)
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	if !strings.HasPrefix(token, "pms_") || !strings.Contains(errOut, "signed in as "+addr+", role none") {
		t.Fatalf("login printed %q, %q", out, errOut)
	}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/v1/auth/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/auth/me with the printed token: %d", resp.StatusCode)
	}

	bad := filepath.Join(t.TempDir(), "bad.key")
	_ = os.WriteFile(bad, []byte("not a key"), 0o600)
	for _, args := range [][]string{
		{"login"},
		{"login", "-key-file", bad},
		{"login", "-key-file", filepath.Join(dir, "missing")},
	} {
		if code, o, e := runPaimon(t, args...); code != 2 || o != "" {
			t.Fatalf("%v: exit %d, %q %q", args, code, o, e)
		}
	}
	// A node that is not there: a clear error, exit 1.
	if code, _, e := runPaimon(t, "login", "-url", "http://"+freePort(t), "-key-file", keyFile); code != 1 || !strings.Contains(e, "paimon login:") {
		t.Fatalf("no node: exit %d, %q", code, e)
	}
}
