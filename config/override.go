package config

import (
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Flags are the command-line overrides of `paimon serve`. Only flags given on the command line
// override the file; the others keep the file's value.
type Flags struct {
	fs              *flag.FlagSet
	nodeID          string
	dataDir         string
	httpAddr        string
	raftAddr        string
	raftAdvertise   string
	join            string
	bootstrapExpect int
	secret          string
	postgresDSN     string
	logLevel        string
}

// RegisterFlags defines the override flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.nodeID, "node-id", "", "node id (node.id)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data folder (node.data_dir)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "HTTP listen address (http.addr)")
	fs.StringVar(&f.raftAddr, "raft-addr", "", "Raft listen address (raft.addr)")
	fs.StringVar(&f.raftAdvertise, "raft-advertise", "", "Raft address other nodes dial (raft.advertise)")
	fs.StringVar(&f.join, "join", "", "comma-separated peer HTTP addresses (cluster.join)")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "voters to wait for before bootstrapping (cluster.bootstrap_expect)")
	fs.StringVar(&f.secret, "cluster-secret", "", "shared cluster secret (cluster.secret)")
	fs.StringVar(&f.postgresDSN, "postgres-dsn", "", "PostgreSQL DSN (postgres.dsn)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (log.level)")
	return f
}

// Apply writes the flags that were set on the command line into c.
func (f *Flags) Apply(c *Config) {
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "node-id":
			c.Node.ID = f.nodeID
		case "data-dir":
			c.Node.DataDir = f.dataDir
		case "http-addr":
			c.HTTP.Addr = f.httpAddr
		case "raft-addr":
			c.Raft.BindAddr = f.raftAddr
		case "raft-advertise":
			c.Raft.Advertise = f.raftAdvertise
		case "join":
			c.Cluster.Join = splitList(f.join)
		case "bootstrap-expect":
			c.Cluster.BootstrapExpect = f.bootstrapExpect
		case "cluster-secret":
			c.Cluster.Secret = f.secret
		case "postgres-dsn":
			c.Postgres.DSN = f.postgresDSN
		case "log-level":
			c.Log.Level = f.logLevel
		}
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EnvPrefix starts the name of every environment override: PAIMON_<SECTION>_<KEY>, upper case,
// for example PAIMON_CLUSTER_SECRET or PAIMON_HTTP_ADDR. Lists are comma-separated.
const EnvPrefix = "PAIMON_"

// ApplyEnv writes environment overrides into c. lookup is os.LookupEnv in production. Only
// scalar keys and string lists can be set this way; tables such as [[auth.tokens]] cannot.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	root := reflect.ValueOf(c).Elem()
	for i := 0; i < root.NumField(); i++ {
		section := root.Type().Field(i).Tag.Get("toml")
		sv := root.Field(i)
		for j := 0; j < sv.NumField(); j++ {
			key := sv.Type().Field(j).Tag.Get("toml")
			if key == "" || key == "-" {
				continue // set from other sections
			}
			name := EnvPrefix + strings.ToUpper(section+"_"+key)
			val, ok := lookup(name)
			if !ok {
				continue
			}
			if err := setScalar(sv.Field(j), val); err != nil {
				return fmt.Errorf("%w: %s (%s.%s): %w", ErrInvalid, name, section, key, err)
			}
		}
	}
	return nil
}

func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType || v.Type() == timeDurationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want Go syntax such as \"5s\"", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(int64(n))
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an unsigned integer", s)
		}
		v.SetUint(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		v.Set(reflect.ValueOf(splitList(s)))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
