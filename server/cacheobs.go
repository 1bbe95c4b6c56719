package server

import (
	"time"

	"paimon/auth"
	"paimon/cache"
	"paimon/config"
	"paimon/fund"
)

// CacheClassTTLs maps the cache configuration to the server's cache classes.
func CacheClassTTLs(c config.Cache) []time.Duration {
	ttl := make([]time.Duration, NumCacheClasses)
	for i := range ttl {
		ttl[i] = c.DefaultTTL.D()
	}
	ttl[cOverview] = c.OverviewTTL.D()
	ttl[cNav] = c.NavTTL.D()
	ttl[cPrices] = c.PricesTTL.D()
	ttl[cPrice] = c.PricesTTL.D()
	return ttl
}

// CacheUpdater keeps the cache in step with the state machine: it invalidates what each
// committed batch changed and writes the re-rendered materialized views through. It is a
// fund.Observer, called on the apply path before the batch's index is published to readers.
type CacheUpdater struct {
	c    *cache.Cache
	auth *auth.Auth
}

// NewCacheUpdater returns an observer for c and for the wallet sessions and roles a (the
// same a the server authenticates with) keeps: both are updated before a batch's index is
// published, and both are forgotten on a snapshot restore.
func NewCacheUpdater(c *cache.Cache, a *auth.Auth) *CacheUpdater {
	return &CacheUpdater{c: c, auth: a}
}

var viewClass = map[string]cache.Class{
	fund.ViewOverview: cOverview,
	fund.ViewNav:      cNav,
	fund.ViewTiers:    cTiers,
	fund.ViewAssets:   cAssets,
	fund.ViewFlows:    cFlows,
	fund.ViewPrices:   cPrices,
}

// Applied implements fund.Observer.
func (u *CacheUpdater) Applied(ch *fund.Changes) {
	u.auth.Applied(ch)
	c, idx := u.c, ch.Index
	classes := [fund.NumClasses][]cache.Class{
		fund.ClassOverview:    {cOverview},
		fund.ClassNav:         {cNav},
		fund.ClassTiers:       {cTiers},
		fund.ClassAssets:      {cAssets},
		fund.ClassFlows:       {cFlows},
		fund.ClassPrices:      {cPrices},
		fund.ClassRedemptions: {cRedemptions},
		fund.ClassLedger:      {cLedger, cAccountTx},
		fund.ClassAudit:       {cAudit},
	}
	for fc, changed := range ch.Classes {
		if changed {
			for _, cc := range classes[fc] {
				c.Invalidate(cc, idx)
			}
		}
	}
	for _, a := range ch.Accounts {
		c.InvalidateGroup(cAccount, a[:], idx)
		c.InvalidateGroup(cAccountTx, a[:], idx)
	}
	for _, id := range ch.Redemptions {
		c.InvalidateGroup(cRedemption, []byte(id), idx)
	}
	for _, asset := range ch.Prices {
		c.InvalidateGroup(cPrice, []byte(asset), idx)
	}
	for _, v := range ch.Views {
		cc, ok := viewClass[v.Name]
		if !ok {
			continue
		}
		// A view is re-rendered when any class it depends on changed, which may not be its own
		// class: invalidate before writing through, so no older rendering can win a race.
		c.Invalidate(cc, idx)
		c.Set(cc, nil, []byte(v.Name), idx, v.Body)
	}
}

// Restored implements the store's restore hook: after a snapshot replaced the state, nothing
// cached from the old state may be served.
func (u *CacheUpdater) Restored(index uint64) {
	u.auth.Restored()
	u.c.Reset()
	for cc := cache.Class(0); cc < NumCacheClasses; cc++ {
		u.c.Invalidate(cc, index)
	}
}
