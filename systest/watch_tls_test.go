package systest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paimon/config"
	"paimon/internal/testutil"
	"paimon/node"
)

// TestTLSWatch: `paimon watch` reaches a node that serves TLS at wss:// when told to trust its
// CA (-ca) or any certificate (-insecure), and refuses the unknown certificate otherwise.
func TestTLSWatch(t *testing.T) {
	ca := testutil.NewTestCA(t)
	cfg := config.Default()
	cfg.Node.DataDir = t.TempDir()
	cfg.HTTP.Addr, cfg.Raft.BindAddr = freePort(t), freePort(t)
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile = ca.Issue(t, "node1")
	cfg.Log.Level = "warn"
	n, err := node.New(cfg, testutil.Logger(t, "node1", slog.LevelWarn), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	tok, err := os.ReadFile(filepath.Join(cfg.Node.DataDir, node.LocalAdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	url := "wss://" + cfg.HTTP.Addr + "/v1/ws"

	if code, _, errOut := runPaimon(t, "watch", "-url", url, "-token", strings.TrimSpace(string(tok)), "transactions"); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("unknown CA: exit %d, %q", code, errOut)
	}
	for _, flags := range [][]string{{"-ca", ca.File}, {"-insecure"}} {
		ctx, cancel := context.WithCancel(context.Background())
		out, stderr := &lockedBuffer{}, &lockedBuffer{}
		done := make(chan int, 1)
		go func() {
			args := append([]string{"watch", "-url", url, "-token", strings.TrimSpace(string(tok))}, flags...)
			done <- runPaimonTo(t, ctx, out, stderr, append(args, "transactions")...)
		}()
		testutil.CheckFor(t, 10*time.Second, func() error {
			if !strings.Contains(out.String(), `"type":"subscribed"`) {
				return fmt.Errorf("%v: not subscribed: %q %q", flags, out.String(), stderr.String())
			}
			return nil
		})
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("%v: exit %d after cancel, %q", flags, code, stderr.String())
		}
	}
}
