package config

import (
	"encoding/hex"
	"strings"

	"paimon/alerts"
	"paimon/auth"
	"paimon/cache"
	"paimon/fund"
	"paimon/pgsync"
	"paimon/raftstore"
	"paimon/readmodel"
	"paimon/server"
)

// The components' configurations, each composed from its own section and the keys it needs
// from others. They assume a validated Config.

// ServerConfig is [http] with the node's id, read.max_staleness, raft.apply_timeout,
// ingest.chain_id, approvals.require_signature and exempt_static_tokens, cluster.secret, the advertised Raft address, and the rules the server writes
// into the logs and prices it proposes (ingest.reorder_window_blocks, prices.max_future_skew),
// and the alert webhooks' names and min_severity (GET /v1/alerts shows what each is owed).
func (c *Config) ServerConfig() server.Config {
	s := c.HTTP
	s.AlertWebhooks = make([]readmodel.AlertWebhook, len(c.Alerts.Webhooks))
	for i, w := range c.Alerts.Webhooks {
		s.AlertWebhooks[i] = readmodel.AlertWebhook{Name: w.Name, MinSeverity: w.MinSeverity}
	}
	s.NodeID = c.Node.ID
	s.ReorderWindow = c.Ingest.ReorderWindowBlocks
	s.MaxPriceFutureSkew = c.Prices.MaxFutureSkew
	s.MaxStaleness = c.Read.MaxStaleness
	s.ApplyTimeout = c.Raft.ApplyTimeout
	s.ChainID = c.Ingest.ChainID
	s.ApprovalSignature, s.ApprovalTokensExempt = c.Approvals.RequireSignature, c.Approvals.ExemptStaticTokens
	s.Rebalance = c.Rebalance
	s.ClusterSecret = []byte(c.Cluster.Secret)
	s.RaftAddr = c.RaftAdvertise()
	return s
}

// StoreConfig is [raft] with the node's id and data folder, its API address, the cluster's
// secret, and whether a node with no state bootstraps a cluster of itself (a single node:
// no peers to join, none to wait for).
func (c *Config) StoreConfig() raftstore.Config {
	r := c.Raft
	r.NodeID = c.Node.ID
	r.Dir = c.Node.DataDir
	r.HTTPAddr = c.HTTPAdvertise()
	r.Secret = []byte(c.Cluster.Secret)
	r.Bootstrap = c.Cluster.BootstrapExpect <= 1 && len(c.Cluster.Join) == 0
	return r
}

// AlertsConfig is [alerts] as it is: the alert Deliverer needs no other section (the
// outcomes it proposes wait raft.apply_timeout, which the node gives its outbox).
func (c *Config) AlertsConfig() alerts.Config { return c.Alerts }

// PGSyncConfig is [postgres] with the connections named after the node.
func (c *Config) PGSyncConfig() pgsync.Config {
	p := c.Postgres
	p.ApplicationName = "paimon/" + c.Node.ID
	return p
}

// CacheConfig maps [cache] to the cache: its size, and the lifetime of each of the server's
// cache classes.
func (c *Config) CacheConfig() cache.Config {
	ttls := server.CacheTTLs{Overview: c.Cache.OverviewTTL, Nav: c.Cache.NavTTL, Prices: c.Cache.PricesTTL, Default: c.Cache.DefaultTTL}
	return cache.Config{SizeBytes: c.Cache.SizeMiB << 20, TTLs: ttls.Classes(), DefaultTTL: c.Cache.DefaultTTL}
}

// FundInfo is the fund the state machine renders ([fund] and the chain's id). The outbox is
// always written, whether or not this node syncs to PostgreSQL: every replica must apply
// commands to the same bytes (the leader prunes it when nothing consumes it). The rules an
// operator configures (ingest.reorder_window_blocks, prices.max_future_skew) are not here: the
// server writes its own into each command it proposes (ServerConfig), so that a node configured
// otherwise still applies the log as the leader meant it.
func (c *Config) FundInfo() fund.Info {
	return fund.Info{
		FundID: c.Fund.ID, Name: c.Fund.Name, Symbol: c.Fund.Symbol, ChainID: c.Ingest.ChainID, Outbox: true,
	}
}

// AuthConfig maps [auth] and [ratelimit] to authentication: static tokens (by their SHA-256),
// bootstrap wallet roles, the cluster secret as the members' credential, the login message's
// service and chain, lifetimes, and the per-client budgets (enabled = false limits nothing;
// failed_login_per_address is the budget per (client IP, wallet): a wallet alone has none,
// so nobody can lock another person's wallet).
func (c *Config) AuthConfig() auth.Config {
	a := auth.Config{
		ClusterSecret:      []byte(c.Cluster.Secret),
		Service:            c.Auth.Service,
		ChainID:            c.Ingest.ChainID,
		NonceTTL:           c.Auth.NonceTTL,
		SessionTTL:         c.Auth.SessionTTL,
		SessionExtendAfter: c.Auth.SessionExtendAfter,
	}
	for _, t := range c.Auth.Tokens {
		var sum [32]byte
		b, _ := hex.DecodeString(t.SHA256) // validated
		copy(sum[:], b)
		a.Tokens = append(a.Tokens, auth.Token{Name: t.Name, Role: t.Role, SHA256: sum})
	}
	for _, w := range c.Auth.Wallets {
		var addr [20]byte
		b, _ := hex.DecodeString(strings.TrimPrefix(strings.ToLower(w.Address), "0x")) // validated
		copy(addr[:], b)
		a.Wallets = append(a.Wallets, auth.Wallet{Address: addr, Role: w.Role})
	}
	if r := c.RateLimit; r.Enabled {
		a.RateLimit = auth.RateLimit{
			Login:                   auth.Budget{Rate: r.LoginRate, Burst: r.LoginBurst},
			Read:                    auth.Budget{Rate: r.ReadRate, Burst: r.ReadBurst},
			Write:                   auth.Budget{Rate: r.WriteRate, Burst: r.WriteBurst},
			FailedLoginsPerIPWallet: r.FailedLoginPerAddress,
			FailedLoginsPerIP:       r.FailedLoginPerIP,
			FailedLoginWindow:       r.FailedLoginWindow,
			MaxClients:              r.MaxClients,
			IdleEvict:               r.IdleEvict,
		}
	}
	return a
}
