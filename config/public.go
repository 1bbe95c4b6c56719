package config

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"paimon/risk"
)

// Public is the node's effective configuration without its secrets, for GET
// /v1/system/config: what an operator needs to check how a node is set up (the chain and
// contracts, confirmations, the fund, consistency, limits and lifetimes). Fields are listed
// one by one, so a new secret is never shown by accident: the cluster secret, token hashes,
// the PostgreSQL DSN (only whether one is set and its host) and RPC URLs' paths and queries
// (which often carry API keys), and alert webhooks' URL paths and queries, secrets and routing
// keys (a Slack webhook URL is its credential) are left out.
func (c *Config) Public() map[string]any {
	contracts := make([]map[string]any, 0, len(c.Ingest.Contracts))
	for _, k := range c.Ingest.Contracts {
		contracts = append(contracts, map[string]any{"name": k.Name, "kind": k.Kind, "address": k.Address})
	}
	rpc := make([]string, 0, len(c.Ingest.RPCURLs))
	for _, u := range c.Ingest.RPCURLs {
		rpc = append(rpc, hostOf(u))
	}
	tokens := make([]map[string]string, 0, len(c.Auth.Tokens))
	for _, t := range c.Auth.Tokens {
		tokens = append(tokens, map[string]string{"name": t.Name, "role": t.Role})
	}
	webhooks := make([]map[string]string, 0, len(c.Alerts.Webhooks))
	for _, w := range c.Alerts.Webhooks {
		webhooks = append(webhooks, map[string]string{"name": w.Name, "host": hostOf(w.URL), "format": w.Format,
			"minSeverity": w.MinSeverity, "signed": strconv.FormatBool(w.Secret != "")})
	}
	th := c.Risk.Thresholds()
	thresholds := make([]map[string]any, 0, len(th))
	for i, t := range th {
		thresholds = append(thresholds, map[string]any{"indicator": risk.Indicator(i).Name(), "warn": t.Warn, "critical": t.Critical, "hysteresis": t.Hysteresis})
	}
	slippage := make(map[string]int, len(c.Rebalance.AssetSlippageBps))
	for a, bps := range c.Rebalance.AssetSlippageBps {
		slippage[strings.ToLower(a)] = bps
	}
	ap := &c.Approvals
	sla := func(warn, escalate, deadline time.Duration) map[string]string {
		return map[string]string{"warn": warn.String(), "escalate": escalate.String(), "deadline": deadline.String()}
	}
	slices.SortFunc(tokens, func(a, b map[string]string) int {
		if a["name"] < b["name"] {
			return -1
		}
		return 1
	})
	return map[string]any{
		"node": map[string]any{"id": c.Node.ID},
		"fund": map[string]any{"id": c.Fund.ID, "name": c.Fund.Name, "symbol": c.Fund.Symbol, "assets": c.Fund.Assets},
		"chain": map[string]any{
			"chainId": c.Ingest.ChainID, "confirmations": c.Ingest.Confirmations, "startBlock": c.Ingest.StartBlock,
			"pollInterval": c.Ingest.PollInterval.String(), "reorgWindow": c.Ingest.ReorgWindow, "pending": c.Ingest.Pending,
			"rpc": rpc, "contracts": contracts,
		},
		"cluster": map[string]any{
			"join": c.Cluster.Join, "bootstrapExpect": c.Cluster.BootstrapExpect,
			"tls": c.Cluster.TLSCertFile != "", "httpAdvertise": c.HTTPAdvertise(), "raftAdvertise": c.RaftAdvertise(),
		},
		"read": map[string]any{"maxStaleness": c.Read.MaxStaleness.String()},
		"http": map[string]any{
			"maxBodyBytes": c.HTTP.MaxBodyBytes, "maxConnsPerIp": c.HTTP.MaxConnsPerIP, "tls": c.HTTP.TLSCertFile != "",
			"readTimeout": c.HTTP.ReadTimeout.String(), "writeTimeout": c.HTTP.WriteTimeout.String(),
		},
		"cache": map[string]any{
			"sizeMiB": c.Cache.SizeMiB, "overviewTtl": c.Cache.OverviewTTL.String(), "navTtl": c.Cache.NavTTL.String(),
			"pricesTtl": c.Cache.PricesTTL.String(), "defaultTtl": c.Cache.DefaultTTL.String(),
		},
		"push": map[string]any{
			"enabled": c.Push.Enabled, "windowMessages": c.Push.WindowMessages, "queueMessages": c.Push.QueueMessages,
			"maxConns": c.Push.MaxConns, "maxConnsPerIp": c.Push.MaxConnsPerIP, "framesPerSecond": c.Push.FramesPerSecond,
		},
		"auth": map[string]any{
			"service": c.Auth.Service, "nonceTtl": c.Auth.NonceTTL.String(), "sessionTtl": c.Auth.SessionTTL.String(),
			"sessionExtendAfter": c.Auth.SessionExtendAfter.String(), "tokens": tokens, "bootstrapWallets": len(c.Auth.Wallets),
		},
		"rateLimit": map[string]any{
			"enabled": c.RateLimit.Enabled, "loginRate": c.RateLimit.LoginRate, "loginBurst": c.RateLimit.LoginBurst,
			"readRate": c.RateLimit.ReadRate, "readBurst": c.RateLimit.ReadBurst, "writeRate": c.RateLimit.WriteRate,
			"writeBurst": c.RateLimit.WriteBurst, "failedLoginPerAddress": c.RateLimit.FailedLoginPerAddress,
			"failedLoginPerIp": c.RateLimit.FailedLoginPerIP, "failedLoginWindow": c.RateLimit.FailedLoginWindow.String(),
		},
		"alerts": map[string]any{
			"minBackoff": c.Alerts.MinBackoff.String(), "maxBackoff": c.Alerts.MaxBackoff.String(),
			"attemptTimeout": c.Alerts.AttemptTimeout.String(), "maxAge": c.Alerts.MaxAge.String(), "webhooks": webhooks,
		},
		// [executor] without its key file (the key never leaves the executor), and [keeper].
		"executor": map[string]any{
			"enabled": c.Executor.Enabled(), "chainId": c.Executor.ChainID, "gasLimit": c.Executor.GasLimit,
			"maxFeeGwei": c.Executor.MaxFeeGwei, "maxTipGwei": c.Executor.MaxTipGwei,
			"confirmations": c.Executor.Confirmations, "replaceAfter": c.Executor.ReplaceAfter.String(),
		},
		"keeper": map[string]any{"settleInterval": c.Keeper.SettleInterval.String(), "batchMax": c.Keeper.BatchMax},
		// This node's [risk]; the state machine applies the leader's (GET /v1/risk/status shows them).
		"risk": map[string]any{"thresholds": thresholds},
		// This node's [approvals]; tickets follow the rules the leader replicated.
		"approvals": map[string]any{
			"defaultRequired": ap.DefaultRequired, "largeAmount": ap.LargeAmount, "largeRequired": ap.LargeRequired,
			"sla": map[string]any{
				"STANDARD":  sla(ap.StandardWarn, ap.StandardEscalate, ap.StandardDeadline),
				"EMERGENCY": sla(ap.EmergencyWarn, ap.EmergencyEscalate, ap.EmergencyDeadline),
				"SCHEDULED": sla(ap.ScheduledWarn, ap.ScheduledEscalate, ap.ScheduledDeadline),
			},
			"tickInterval": ap.TickInterval.String(), "requireSignature": ap.RequireSignature, "exemptStaticTokens": ap.ExemptStaticTokens,
		},
		// This node's [rebalance]: a preview uses the slippage bounds and horizon of the node that
		// leads, an execution the approval amount of the leader that proposes it.
		"rebalance": map[string]any{
			"approvalAmount": c.Rebalance.ApprovalAmount, "slippageBps": c.Rebalance.SlippageBps, "assetSlippageBps": slippage,
			"liquidityHorizon": c.Rebalance.LiquidityHorizon.String(),
		},
		"postgres": map[string]any{"enabled": c.Postgres.DSN != "", "host": hostOf(c.Postgres.DSN), "maxLag": c.Postgres.MaxLag.String()},
	}
}

// hostOf is a URL's scheme and host, without user, password, path or query; "" when it has
// none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
