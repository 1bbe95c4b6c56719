package systest

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"paimon/config"
)

var dockerCheck = flag.Bool("docker", false, "run TestDockerImage: build the image with docker and run it (needs a Docker engine and its registries)")

// instruction is one Dockerfile instruction: its keyword (upper case), its flags (--from=…)
// and its arguments, the JSON array of the exec form decoded.
type instruction struct {
	line  int
	cmd   string
	flags map[string]string
	args  []string
	json  bool // the arguments were a JSON array (exec form)
}

// stage is a FROM and the instructions up to the next one.
type stage struct {
	base, name string
	ins        []instruction
}

// parseDockerfile reads the subset of the Dockerfile syntax this repository uses: comments,
// parser directives, line continuations with '\', instructions with --flags and arguments in
// shell or exec (JSON array) form. It refuses what it does not know (an instruction before
// FROM, an unknown keyword, a bad JSON array, a continuation at the end of the file), so a
// change the checks cannot read fails rather than passing unread.
func parseDockerfile(text string) ([]stage, error) {
	known := []string{"FROM", "WORKDIR", "COPY", "ARG", "RUN", "USER", "VOLUME", "EXPOSE", "ENTRYPOINT", "CMD", "ENV", "LABEL"}
	var stages []stage
	sc := bufio.NewScanner(strings.NewReader(text))
	var cont strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue // a comment (or a parser directive, which this file does not use)
		}
		if cont.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comments inside a continued instruction are dropped
		}
		if cont.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cont.WriteString(line)
		in, err := parseInstruction(cont.String(), start)
		cont.Reset()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(known, in.cmd) {
			return nil, fmt.Errorf("line %d: instruction %s is not one this check reads", start, in.cmd)
		}
		if in.cmd == "FROM" {
			st := stage{}
			switch {
			case len(in.args) == 1:
				st.base = in.args[0]
			case len(in.args) == 3 && strings.EqualFold(in.args[1], "AS"):
				st.base, st.name = in.args[0], in.args[2]
			default:
				return nil, fmt.Errorf("line %d: FROM %v", start, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue // an ARG before the first FROM
			}
			return nil, fmt.Errorf("line %d: %s before FROM", start, in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	if cont.Len() > 0 {
		return nil, errors.New("the file ends inside a continued instruction")
	}
	if len(stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return stages, sc.Err()
}

func parseInstruction(s string, line int) (instruction, error) {
	cmd, rest, _ := strings.Cut(s, " ")
	in := instruction{line: line, cmd: strings.ToUpper(cmd), flags: map[string]string{}}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		var f string
		f, rest, _ = strings.Cut(rest, " ")
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		in.flags[k] = v
		rest = strings.TrimSpace(rest)
	}
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &in.args); err != nil {
			return in, fmt.Errorf("line %d: %s %s: %w", line, in.cmd, rest, err)
		}
		in.json = true
		return in, nil
	}
	in.args = strings.Fields(rest)
	return in, nil
}

// TestDockerfile reads the Dockerfile and checks what the image promises (deploy/README.md):
// the final image is distroless/static (or scratch) and runs as a non-root numeric user; the
// binary in it is the one scripts/release.sh builds (static: CGO_ENABLED=0, the `make
// release` path) in an earlier stage, copied from there and run in exec form; and EXPOSE names
// exactly the API and Raft ports of the deployment's configs (deploy/cluster/*.toml).
func TestDockerfile(t *testing.T) {
	body, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(body))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	final := stages[len(stages)-1]
	if !regexp.MustCompile(`^(gcr\.io/distroless/static(-debian\d+)?(:[\w.-]+)?|scratch)$`).MatchString(final.base) {
		t.Errorf("Dockerfile: the final image is FROM %s, want distroless/static or scratch", final.base)
	}
	last := func(cmd string) *instruction {
		for i := len(final.ins) - 1; i >= 0; i-- {
			if final.ins[i].cmd == cmd {
				return &final.ins[i]
			}
		}
		return nil
	}
	user := last("USER")
	if user == nil || len(user.args) != 1 {
		t.Fatalf("Dockerfile: the final stage sets no USER (it would run as root)")
	}
	uid, _, _ := strings.Cut(user.args[0], ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("Dockerfile: USER %s, want a numeric non-root uid (distroless's nonroot is 65532)", user.args[0])
	}

	// The binary: copied from a build stage that runs scripts/release.sh, which the Makefile's
	// release target runs too, and which builds static binaries.
	var copied *instruction
	for i := range final.ins {
		if in := &final.ins[i]; in.cmd == "COPY" && len(in.args) == 2 && in.args[1] == "/usr/local/bin/paimon" {
			copied = in
		}
	}
	if copied == nil || copied.flags["from"] == "" {
		t.Fatalf("Dockerfile: the final stage does not COPY --from=<build stage> the binary to /usr/local/bin/paimon")
	}
	var build *stage
	for i := range stages[:len(stages)-1] {
		if stages[i].name == copied.flags["from"] {
			build = &stages[i]
		}
	}
	if build == nil {
		t.Fatalf("Dockerfile: COPY --from=%s names no earlier stage", copied.flags["from"])
	}
	releases := false
	for _, in := range build.ins {
		if in.cmd == "RUN" && slices.Contains(in.args, "scripts/release.sh") && strings.Contains(strings.Join(in.args, " "), copied.args[0]) {
			releases = true
		}
	}
	if !releases {
		t.Errorf("Dockerfile: stage %s does not build %s with scripts/release.sh", build.name, copied.args[0])
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^release:[^\n]*\n\t[^\n]*scripts/release\.sh`).Match(makefile) {
		t.Errorf("Makefile: the release target does not run scripts/release.sh (the image would ship another build)")
	}
	script, err := os.ReadFile("../scripts/release.sh")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(script), "\\\n", " ") // continuation lines
	if !regexp.MustCompile(`(?m)^\s*CGO_ENABLED=0 .*go build .*\./cmd/paimon`).MatchString(joined) {
		t.Errorf("scripts/release.sh: the binary is not built with CGO_ENABLED=0 (static), which distroless/static needs")
	}
	if ep := last("ENTRYPOINT"); ep == nil || !ep.json || !slices.Equal(ep.args, []string{"/usr/local/bin/paimon"}) {
		t.Errorf("Dockerfile: ENTRYPOINT %+v, want [\"/usr/local/bin/paimon\"] in exec form", ep)
	}
	if c := last("CMD"); c == nil || !c.json || len(c.args) < 3 || c.args[0] != "serve" || c.args[1] != "-config" {
		t.Errorf("Dockerfile: CMD %+v, want [\"serve\", \"-config\", FILE]", c)
	}

	// EXPOSE: the ports the deployment's nodes listen on.
	var exposed []string
	for _, in := range final.ins {
		if in.cmd == "EXPOSE" {
			exposed = append(exposed, in.args...)
		}
	}
	configs, _ := filepath.Glob("../deploy/cluster/*.toml")
	if len(configs) == 0 {
		t.Fatal("no deploy/cluster/*.toml")
	}
	var want []string
	for _, path := range configs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, addr := range []string{c.HTTP.Addr, c.Raft.BindAddr} {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, addr, err)
			}
			if !slices.Contains(want, port) {
				want = append(want, port)
			}
		}
	}
	slices.Sort(exposed)
	slices.Sort(want)
	if !slices.Equal(exposed, want) {
		t.Errorf("Dockerfile: EXPOSE %v, want the deployment's API and Raft ports %v (deploy/cluster)", exposed, want)
	}
}

// TestParseDockerfile: the reader handles continuations and both argument forms, and refuses
// what the checks could not read.
func TestParseDockerfile(t *testing.T) {
	stages, err := parseDockerfile("ARG V=1\nFROM golang AS build\n# c\nRUN a \\\n  # inside\n  b\nFROM scratch\nCOPY --from=build --chown=1:1 /x /y\nUSER 1:1\nCMD [\"serve\", \"-config\", \"/c\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].name != "build" || stages[1].base != "scratch" {
		t.Fatalf("stages %+v", stages)
	}
	if run := stages[0].ins[0]; run.cmd != "RUN" || !slices.Equal(run.args, []string{"a", "b"}) || run.line != 4 {
		t.Errorf("RUN %+v", run)
	}
	if cp := stages[1].ins[0]; cp.flags["from"] != "build" || cp.flags["chown"] != "1:1" || !slices.Equal(cp.args, []string{"/x", "/y"}) {
		t.Errorf("COPY %+v", cp)
	}
	if c := stages[1].ins[2]; !c.json || !slices.Equal(c.args, []string{"serve", "-config", "/c"}) {
		t.Errorf("CMD %+v", c)
	}
	for _, bad := range []string{"", "RUN x\n", "FROM a\nHEALTHCHECK x\n", "FROM a\nCMD [\"x\"\n", "FROM a\nRUN x \\\n", "FROM a b\n"} {
		if _, err := parseDockerfile(bad); err == nil {
			t.Errorf("parseDockerfile(%q) accepted it", bad)
		}
	}
}

// TestDockerImage builds the image with docker (the Dockerfile's own stages: it needs the
// golang and distroless images from their registries) and checks the built image: it runs as
// 65532, exposes the Dockerfile's ports, and its binary answers `version` with the release
// stamped. It runs only with -docker (minutes, and a Docker engine): without one it fails
// saying so. Not in the default suite: the development machines have the docker client but no
// engine and no registry access (deploy/README.md).
func TestDockerImage(t *testing.T) {
	if !*dockerCheck {
		t.Skip("builds the container image (minutes, a Docker engine and registry access): run with -docker")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal("-docker: no docker command on PATH; install Docker (engine and client) to run this check")
	}
	if out, err := exec.Command(docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("-docker: the Docker engine does not answer (docker info: %v): %s", err, out)
	}
	const image = "paimon-systest:check"
	build := exec.Command(docker, "build", "-t", image, "--build-arg", "RELEASE=v0.0.0-systest", "--build-arg", "COMMIT=systest", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(docker, "image", "rm", "-f", image).Run() })
	out, err := exec.Command(docker, "image", "inspect", "--format", "{{json .Config}}", image).Output()
	if err != nil {
		t.Fatalf("docker image inspect: %v", err)
	}
	var cfg struct {
		User         string
		ExposedPorts map[string]struct{}
		Entrypoint   []string
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("docker image inspect: %v\n%s", err, out)
	}
	if cfg.User != "65532:65532" || !slices.Equal(cfg.Entrypoint, []string{"/usr/local/bin/paimon"}) {
		t.Errorf("image config: user %q, entrypoint %v", cfg.User, cfg.Entrypoint)
	}
	for _, p := range []string{"8443/tcp", "7000/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("image config: %s not exposed (%v)", p, cfg.ExposedPorts)
		}
	}
	out, err = exec.Command(docker, "run", "--rm", image, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v0.0.0-systest") || !strings.Contains(string(out), "systest") {
		t.Errorf("docker run %s version: %v\n%s", image, err, out)
	}
}
