package server

import (
	"paimon/auth"
	"paimon/fund"
	"paimon/readmodel"
)

// resourceTable declares every endpoint of the API once (routes.go derives the rest). A read
// of the replicated state is a row with a read (reads.go): its path parameter's kind, the
// fund classes whose change invalidates it, the materialized view that answers it without a
// query, the renderer of everything else, its TTL; and the WebSocket channel that pushes it,
// with the kind of record that feeds it (the view without one).
// Adding a read endpoint is adding a row here and, if the read model has none yet, its
// renderer; TestAuthorizationTable then asks for its row of who may use it.
func resourceTable() []route {
	return []route{
		// Health and metrics.
		{name: "healthz", method: "GET", path: "/healthz", Access: auth.Public, unlimited: true, handle: noRC((*Server).serveHealth)},
		{name: "readyz", method: "GET", path: "/readyz", Access: auth.Public, unlimited: true, handle: noRC((*Server).serveReady)},
		{name: "metrics", method: "GET", path: "/metrics", Access: auth.Public, unlimited: true, handle: noRC((*Server).serveMetrics)},

		// The fund's public reads.
		{name: "fund_overview", method: "GET", path: "/v1/fund/overview", Access: auth.Public, channel: "fund:overview",
			read: &read{view: readmodel.ViewOverview, changedBy: []fund.Class{fund.ClassOverview}, ttl: overviewTTL}},
		{name: "fund_nav_history", method: "GET", path: "/v1/fund/nav/history", Access: auth.Public, params: readmodel.NavParams, channel: "fund:nav", record: readmodel.RecordNav,
			read: &read{view: readmodel.ViewNav, changedBy: []fund.Class{fund.ClassNav}, ttl: navTTL, render: renderNavHistory}},
		{name: "fund_tiers", method: "GET", path: "/v1/fund/tiers", Access: auth.Public,
			read: &read{view: readmodel.ViewTiers, changedBy: []fund.Class{fund.ClassTiers}}},
		{name: "fund_assets", method: "GET", path: "/v1/fund/assets", Access: auth.Public, params: readmodel.AssetParams,
			read: &read{view: readmodel.ViewAssets, changedBy: []fund.Class{fund.ClassAssets, fund.ClassPrices, fund.ClassTiers}, render: renderAssets}},
		{name: "fund_flows", method: "GET", path: "/v1/fund/flows", Access: auth.Public,
			read: &read{view: readmodel.ViewFlows, changedBy: []fund.Class{fund.ClassFlows}}},
		{name: "prices", method: "GET", path: "/v1/prices", Access: auth.Public, channel: "prices", record: readmodel.RecordPrice,
			read: &read{view: readmodel.ViewPrices, changedBy: []fund.Class{fund.ClassPrices}, ttl: pricesTTL}},
		{name: "price", method: "GET", path: "/v1/prices/{asset}", Access: auth.Public, params: readmodel.PriceParams,
			read: &read{param: assetParam, ttl: pricesTTL, render: renderPrice}},
		{name: "risk_status", method: "GET", path: "/v1/risk/status", Access: auth.Public,
			read: &read{view: readmodel.ViewRisk, changedBy: []fund.Class{fund.ClassRiskStatus}, ttl: overviewTTL}},

		// Authenticated reads.
		{name: "account", method: "GET", path: "/v1/accounts/{address}", Access: auth.OwnerOrViewer, channel: "account:", record: readmodel.RecordAccount, pending: true,
			read: &read{param: accountParam, render: renderAccount}},
		{name: "account_transactions", method: "GET", path: "/v1/accounts/{address}/transactions", Access: auth.OwnerOrViewer, params: readmodel.PageParams,
			read: &read{param: accountParam, changedBy: []fund.Class{fund.ClassLedger}, render: renderAccountTransactions}},
		{name: "redemptions", method: "GET", path: "/v1/redemptions", Access: auth.Viewer, params: withPage(readmodel.RedemptionParams), channel: "redemptions", record: readmodel.RecordRedemption,
			read: &read{changedBy: []fund.Class{fund.ClassRedemptions}, render: renderRedemptions}},
		{name: "redemption", method: "GET", path: "/v1/redemptions/{requestId}", Access: auth.Viewer,
			read: &read{param: redemptionParam, render: renderRedemption}},
		{name: "transactions", method: "GET", path: "/v1/transactions", Access: auth.Viewer, params: withPage(readmodel.TxParams), channel: "transactions", record: readmodel.RecordLedger, pending: true,
			read: &read{changedBy: []fund.Class{fund.ClassLedger}, render: renderTransactions}},
		{name: "audit", method: "GET", path: "/v1/audit", Access: auth.Viewer, params: withPage(readmodel.AuditParams),
			read: &read{changedBy: []fund.Class{fund.ClassAudit}, render: renderAudit}},
		{name: "alerts", method: "GET", path: "/v1/alerts", Access: auth.Viewer, params: withPage(readmodel.AlertParams),
			read: &read{changedBy: []fund.Class{fund.ClassAlerts}, render: renderAlerts}},
		{name: "executor_transactions", method: "GET", path: "/v1/executor/transactions", Access: auth.Operator, params: withPage(readmodel.ExecutorTxParams),
			read: &read{changedBy: []fund.Class{fund.ClassExecutor}, render: renderExecutorTransactions}},
		{name: "risk_events", method: "GET", path: "/v1/risk/events", Access: auth.Viewer, params: withPage(readmodel.RiskEventParams), channel: "risk", record: readmodel.RecordRisk,
			read: &read{changedBy: []fund.Class{fund.ClassRisk}, render: renderRiskEvents}},
		// The fees change only through chain events (ledger entries, applied or reverted), never
		// through a price: a price write (ClassOverview) does not invalidate them.
		{name: "fund_fees", method: "GET", path: "/v1/fund/fees", Access: auth.Viewer,
			read: &read{changedBy: []fund.Class{fund.ClassLedger}, render: renderFees}},
		{name: "reports", method: "GET", path: "/v1/reports/{kind}", Access: auth.Viewer, params: reportParams, handle: (*Server).serveReport},
		{name: "risk_liquidity_forecast", method: "GET", path: "/v1/risk/liquidity-forecast", Access: auth.Viewer, params: readmodel.ForecastParams,
			read: &read{changedBy: []fund.Class{fund.ClassRedemptions, fund.ClassFlows, fund.ClassOverview, fund.ClassTiers, fund.ClassAssets, fund.ClassPrices}, render: renderLiquidityForecast}},
		{name: "redemptions_pending_approvals", method: "GET", path: "/v1/redemptions/pending-approvals", Access: auth.Approver,
			read: &read{changedBy: []fund.Class{fund.ClassApprovals, fund.ClassRedemptions}, render: renderPendingApprovals}},
		{name: "approvals", method: "GET", path: "/v1/approvals", Access: auth.Approver, params: withPage(readmodel.ApprovalParams), channel: "approvals", record: readmodel.RecordTicket,
			read: &read{changedBy: []fund.Class{fund.ClassApprovals}, render: renderApprovals}},
		{name: "approvals_sla_report", method: "GET", path: "/v1/approvals/sla-report", Access: auth.Admin, params: readmodel.SLAReportParams,
			read: &read{changedBy: []fund.Class{fund.ClassApprovals}, render: renderSLAReport}},
		{name: "approval", method: "GET", path: "/v1/approvals/{id}", Access: auth.Approver,
			read: &read{param: ticketParam, changedBy: []fund.Class{fund.ClassApprovals, fund.ClassExecutor}, render: renderTicket}},
		{name: "rebalance_status", method: "GET", path: "/v1/rebalance/status", Access: auth.Viewer,
			read: &read{changedBy: []fund.Class{fund.ClassRebalance, fund.ClassTiers, fund.ClassOverview, fund.ClassAssets, fund.ClassPrices}, render: renderRebalanceStatus}},
		{name: "rebalance_history", method: "GET", path: "/v1/rebalance/history", Access: auth.Viewer, params: withPage(readmodel.RebalanceHistoryParams), channel: "rebalance", record: readmodel.RecordPlan,
			read: &read{changedBy: []fund.Class{fund.ClassRebalance}, render: renderRebalanceHistory}},
		{name: "ingest_status", method: "GET", path: "/v1/ingest/status", Access: auth.Viewer, leader: true, handle: noRC((*Server).serveIngestStatus)},
		{name: "cluster_status", method: "GET", path: "/v1/cluster/status", Access: auth.Viewer, cluster: true, handle: noRC((*Server).serveClusterStatus)},
		{name: "system_health", method: "GET", path: "/v1/system/health", Access: auth.Public, handle: noRC((*Server).serveSystemHealth)},
		{name: "openapi", method: "GET", path: "/v1/openapi.json", Access: auth.Public, handle: noRC((*Server).serveOpenAPI)},
		{name: "system_config", method: "GET", path: "/v1/system/config", Access: auth.Viewer, handle: noRC((*Server).serveSystemConfig)},

		// Writes.
		{name: "admin_logs", method: "POST", path: "/v1/admin/logs", Access: auth.Operator, leader: true, resend: true, handle: (*Server).postLogs},
		{name: "admin_prices", method: "POST", path: "/v1/admin/prices", Access: auth.Operator, leader: true, handle: (*Server).postPrices},
		{name: "admin_price_delete", method: "DELETE", path: "/v1/admin/prices/{asset}", Access: auth.Operator, leader: true, params: []string{"time"}, handle: (*Server).deletePrice},
		{name: "redemption_settle", method: "POST", path: "/v1/redemptions/{requestId}/settle", Access: auth.Operator, leader: true, handle: (*Server).settleRedemption},
		{name: "risk_event_resolve", method: "POST", path: "/v1/risk/events/{id}/resolve", Access: auth.Operator, leader: true, handle: (*Server).resolveRiskEvent},
		{name: "approval_approve", method: "POST", path: "/v1/approvals/{id}/approve", Access: auth.Approver, leader: true, handle: (*Server).approveTicket},
		{name: "approval_reject", method: "POST", path: "/v1/approvals/{id}/reject", Access: auth.Approver, leader: true, handle: (*Server).rejectTicket},
		{name: "approval_cancel", method: "POST", path: "/v1/approvals/{id}/cancel", Access: auth.Anyone, leader: true, handle: (*Server).cancelTicket},
		{name: "approval_retry", method: "POST", path: "/v1/approvals/{id}/retry", Access: auth.Operator, leader: true, handle: (*Server).retryTicket},
		{name: "rebalance_preview", method: "POST", path: "/v1/rebalance/preview", Access: auth.Operator, leader: true, handle: (*Server).previewRebalance},
		{name: "rebalance_execute", method: "POST", path: "/v1/rebalance/execute", Access: auth.Operator, leader: true, handle: (*Server).executeRebalance},
		{name: "rebalance_cancel", method: "POST", path: "/v1/rebalance/{id}/cancel", Access: auth.Operator, leader: true, handle: (*Server).cancelRebalance},
		{name: "admin_roles_set", method: "POST", path: "/v1/admin/roles", Access: auth.Admin, leader: true, handle: (*Server).postRole},
		{name: "admin_roles", method: "GET", path: "/v1/admin/roles", Access: auth.Admin, handle: noRC((*Server).getRoles)},
		{name: "pg_verify", method: "GET", path: "/v1/admin/pg/verify", Access: auth.Admin, cluster: true, params: []string{"wait"}, handle: noRC((*Server).pgVerify)},
		{name: "state_digest", method: "GET", path: "/v1/admin/state/digest", Access: auth.Admin, handle: noRC((*Server).serveStateDigest)},

		// The cluster.
		{name: "cluster_join", method: "POST", path: "/v1/cluster/join", Access: auth.Admin, cluster: true, leader: true, handle: (*Server).clusterJoin},
		{name: "cluster_remove", method: "POST", path: "/v1/cluster/remove", Access: auth.Admin, cluster: true, leader: true, handle: (*Server).clusterRemove},
		{name: "cluster_notify", method: "POST", path: "/v1/cluster/notify", Access: auth.Admin, cluster: true, membersOnly: true, handle: (*Server).clusterNotify},
		{name: "cluster_touch", method: "POST", path: "/v1/cluster/touch", Access: auth.Admin, cluster: true, membersOnly: true, leader: true, handle: (*Server).clusterTouch},
		{name: "cluster_readindex", method: "GET", path: "/v1/cluster/readindex", Access: auth.Admin, cluster: true, membersOnly: true, leader: true, handle: (*Server).clusterReadIndex},

		// WebSocket and sessions.
		// The operator console (package console).
		{name: "console_redirect", method: "GET", path: "/console", Access: auth.Public, handle: noRC((*Server).redirectConsole)},
		{name: "console", method: "GET", path: "/console/", Access: auth.Public, handle: noRC((*Server).serveConsole)},
		{name: "console_asset", method: "GET", path: "/console/assets/{file}", Access: auth.Public, handle: (*Server).serveConsoleAsset},

		{name: "ws", method: "GET", path: "/v1/ws", Access: auth.Public, handle: (*Server).serveWS},
		{name: "auth_nonce", method: "POST", path: "/v1/auth/nonce", Access: auth.Public, login: true, leader: true, handle: noRC((*Server).authNonce)},
		{name: "auth_login", method: "POST", path: "/v1/auth/login", Access: auth.Public, login: true, leader: true, handle: (*Server).authLogin},
		{name: "auth_logout", method: "POST", path: "/v1/auth/logout", Access: auth.Anyone, leader: true, handle: (*Server).authLogout},
		{name: "auth_me", method: "GET", path: "/v1/auth/me", Access: auth.Anyone, handle: (*Server).authMe},
	}
}

// withPage adds the pagination parameters to a list's filters.
func withPage(filters []string) []string {
	return append(append([]string(nil), filters...), readmodel.PageParams...)
}
