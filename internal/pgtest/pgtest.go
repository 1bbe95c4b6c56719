// Package pgtest runs throwaway PostgreSQL clusters for tests: initdb and pg_ctl as the postgres
// user (when the tests run as root) in a temp folder, on a free port on 127.0.0.1, removed
// afterwards. Tests never skip for want of PostgreSQL: without its binaries they fail with a
// message saying how to get them.
//
// scripts/test.sh starts one cluster for the whole suite and exports its DSN as
// PAIMON_TEST_POSTGRES; NewDatabase then creates a fresh database in it. Without that variable
// each test binary starts one shared cluster on first use (a package using it stops it from its
// TestMain with Main). Tests that stop and start PostgreSQL get a cluster of their own with Start;
// New is the same outside a test.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"paimon/internal/testutil"
)

// Cluster is one PostgreSQL server with its own data folder.
type Cluster struct {
	bin  string
	dir  string
	port int
	mu   sync.Mutex
	up   bool
}

// Bin finds the PostgreSQL binaries: PAIMON_TEST_PGBIN, initdb on PATH, or
// /usr/lib/postgresql/*/bin.
func Bin() (string, error) {
	cands := []string{os.Getenv("PAIMON_TEST_PGBIN")}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			cands = append(cands, filepath.Dir(r))
		}
	}
	more, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	cands = append(cands, more...)
	for _, c := range cands {
		if c == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "initdb")); err == nil {
			if _, err := os.Stat(filepath.Join(c, "pg_ctl")); err == nil {
				return c, nil
			}
		}
	}
	return "", fmt.Errorf("pgtest: PostgreSQL binaries (initdb, pg_ctl) not found: install PostgreSQL 15 (Debian: apt-get install -y postgresql-15), set PAIMON_TEST_PGBIN, or run ./scripts/test.sh")
}

// asPostgres runs a PostgreSQL binary as the postgres user when we are root (initdb refuses
// root).
func asPostgres(bin string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// freePort is a port below the ephemeral range, which a restarted PostgreSQL can bind again.
var freePort = testutil.FreePort

// newCluster runs initdb and starts the server.
func newCluster() (*Cluster, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "paimon-pgtest-")
	if err != nil {
		return nil, err
	}
	// The folder must be reachable by the postgres user.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, port: port}
	out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	if err := c.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up {
		return nil
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.dir)
	out, err := asPostgres(filepath.Join(c.bin, "pg_ctl"), "-D", c.dataDir(), "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "30", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w: %s\n%s", err, out, log)
	}
	c.up = true
	return nil
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up {
		return nil
	}
	out, err := asPostgres(filepath.Join(c.bin, "pg_ctl"), "-D", c.dataDir(), "-m", "immediate", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w: %s", err, out)
	}
	c.up = false
	return nil
}

func (c *Cluster) remove() {
	_ = c.stop()
	os.RemoveAll(c.dir)
}

// DSN is the address of the cluster's postgres database.
func (c *Cluster) DSN() string { return c.dsn("postgres") }

func (c *Cluster) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// Start runs a cluster of the test's own, which it may stop and start; it is removed when the
// test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := newCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.remove)
	return c
}

// New starts a cluster outside a test (bench/seedplan runs one for its nodes); Close stops
// and removes it.
func New() (*Cluster, error) { return newCluster() }

// Close stops the server and removes its folder.
func (c *Cluster) Close() { c.remove() }

// DataDir is the server's data folder (postmaster.pid names its process).
func (c *Cluster) DataDir() string { return c.dataDir() }

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.dir, "postgres.log") }

// Stop stops the server (immediately, as a crash would); Start brings it back on the same port.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
}

// Restart starts a stopped server again.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
}

// NewDatabase creates an empty database in c and returns its DSN.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, c.DSN(), c.dsn)
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// NewDatabase returns the DSN of a new, empty database: in PAIMON_TEST_POSTGRES's cluster
// when that is set, else in a cluster shared by this test binary.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if env := os.Getenv("PAIMON_TEST_POSTGRES"); env != "" {
		cfg, err := pgx.ParseConfig(env)
		if err != nil {
			t.Fatalf("PAIMON_TEST_POSTGRES: %v", err)
		}
		return createDatabase(t, env, func(db string) string {
			return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
		})
	}
	shared.once.Do(func() { shared.c, shared.err = newCluster() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c.NewDatabase(t)
}

func createDatabase(t testing.TB, adminDSN string, dsnFor func(string) string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", adminDSN, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + strings.ToLower(hex.EncodeToString(b[:]))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, adminDSN); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return dsnFor(name)
}

// Main runs a package's tests and then stops the shared cluster, if one was started. Use it as
// `func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		shared.c.remove()
	}
	return code
}
