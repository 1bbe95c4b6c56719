package systest

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"paimon/config"
	"paimon/internal/testutil"
)

var releaseCheck = flag.Bool("release", false, "run TestReleaseReproducible (builds the release twice: minutes)")

// unitDirectives are the directives deploy/paimon.service may use, by section: the unit is
// parsed strictly (an unknown or misspelt directive, a directive in the wrong section or a
// line that is not key=value fails), because systemd itself only warns and starts the
// service without the setting.
var unitDirectives = map[string][]string{
	"Unit": {"Description", "Documentation", "Wants", "After", "Requires"},
	"Service": {"Type", "User", "Group", "EnvironmentFile", "ExecStartPre", "ExecStart", "ExecReload", "KillSignal",
		"TimeoutStopSec", "Restart", "RestartSec", "LimitNOFILE", "StateDirectory", "StateDirectoryMode", "WorkingDirectory",
		"ReadWritePaths", "UMask", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
		"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
		"ProtectHostname", "ProtectProc", "ProcSubset", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
		"LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC", "CapabilityBoundingSet", "AmbientCapabilities",
		"RestrictAddressFamilies", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber"},
	"Install": {"WantedBy"},
}

// parseUnit reads a systemd unit strictly: sections and key=value lines, comments, nothing else.
func parseUnit(path string) (map[string]map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	unit := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if _, ok := unitDirectives[section]; !ok {
				return nil, fmt.Errorf("line %d: unknown section [%s]", n, section)
			}
			unit[section] = map[string][]string{}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: %q is not a directive of a section", n, line)
		}
		found := false
		for _, d := range unitDirectives[section] {
			found = found || d == key
		}
		if !found {
			return nil, fmt.Errorf("line %d: unknown directive %s in [%s]", n, key, section)
		}
		unit[section][key] = append(unit[section][key], value)
	}
	return unit, sc.Err()
}

// TestDeployFiles: deploy/paimon.service parses (strictly here, and with systemd-analyze
// verify when systemd is installed: any warning fails) and has the hardening and limits the
// deployment needs (the Dockerfile: TestDockerfile); and every example config of deploy/cluster passes `paimon serve -check-config` with its
// certificate files present (the files' /etc/paimon/ prefix moved to a temp folder with a
// test CA's certificates), while the same config with a certificate missing is refused.
func TestDeployFiles(t *testing.T) {
	unit, err := parseUnit("../deploy/paimon.service")
	if err != nil {
		t.Fatalf("deploy/paimon.service: %v", err)
	}
	svc := unit["Service"]
	one := func(key string) string {
		if len(svc[key]) != 1 {
			t.Errorf("paimon.service: %s set %d times, want once", key, len(svc[key]))
			return ""
		}
		return svc[key][0]
	}
	for key, want := range map[string]string{"User": "paimon", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"Restart": "on-failure", "ReadWritePaths": "/var/lib/paimon", "PrivateTmp": "yes", "ProtectHome": "yes"} {
		if got := one(key); got != want {
			t.Errorf("paimon.service: %s=%s, want %s", key, got, want)
		}
	}
	nofile, err := strconv.Atoi(one("LimitNOFILE"))
	if min := config.Default().Push.MaxConns + 4096; err != nil || nofile < min {
		t.Errorf("paimon.service: LimitNOFILE=%s, want at least push.max_conns + 4096 = %d", one("LimitNOFILE"), min)
	}
	if start := one("ExecStart"); !strings.HasPrefix(start, "/usr/local/bin/paimon serve -config ") {
		t.Errorf("paimon.service: ExecStart=%s", start)
	}

	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify wants the binaries to exist: point the unit at the one under test.
		body, _ := os.ReadFile("../deploy/paimon.service")
		dir := t.TempDir()
		path := filepath.Join(dir, "paimon.service")
		os.WriteFile(path, []byte(strings.ReplaceAll(string(body), "/usr/local/bin/paimon", paimonBin)), 0o644)
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify deploy/paimon.service: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze not installed: the unit was checked by the strict parser only")
	}

	configs, _ := filepath.Glob("../deploy/cluster/*.toml")
	if len(configs) != 3 {
		t.Fatalf("deploy/cluster has %d configs, want the three hosts'", len(configs))
	}
	ca := testutil.NewTestCA(t)
	etc := t.TempDir()
	os.MkdirAll(filepath.Join(etc, "tls"), 0o700)
	copyFile(t, ca.File, filepath.Join(etc, "tls", "ca.crt"))
	for _, path := range configs {
		host := strings.TrimSuffix(filepath.Base(path), ".toml")
		cert, key := ca.Issue(t, host)
		copyFile(t, cert, filepath.Join(etc, "tls", host+".crt"))
		copyFile(t, key, filepath.Join(etc, "tls", host+".key"))
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		local := filepath.Join(t.TempDir(), host+".toml")
		os.WriteFile(local, []byte(strings.ReplaceAll(string(body), "/etc/paimon/", etc+"/")), 0o600)
		cmd := exec.Command(paimonBin, "serve", "-config", local, "-check-config")
		cmd.Env = append(os.Environ(), "PAIMON_CLUSTER_SECRET=a-cluster-secret-of-the-example", "PAIMON_POSTGRES_DSN=postgres://paimon@db.internal:5432/paimon")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "configuration ok: node "+host) {
			t.Errorf("%s: paimon serve -check-config: %v\n%s", path, err, out)
		}
		os.Remove(filepath.Join(etc, "tls", host+".key"))
		out, err = cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: -check-config accepted the config with its key file missing:\n%s", path, out)
		}
		copyFile(t, key, filepath.Join(etc, "tls", host+".key"))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseReproducible runs scripts/release_test.sh: the release built twice, from two
// folders, gives the same SHA256SUMS, static binaries, and the stamped `paimon version`. It
// takes minutes on a cold build cache (two architectures), so it runs only with -release.
func TestReleaseReproducible(t *testing.T) {
	if !*releaseCheck {
		t.Skip("builds the release twice (minutes): run with -release")
	}
	cmd := exec.Command("../scripts/release_test.sh")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/release_test.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
