package server

import (
	"time"

	"github.com/cespare/xxhash/v2"

	"paimon/auth"
	"paimon/cache"
	"paimon/fund"
	"paimon/readmodel"
	"paimon/report"
)

// CacheTTLs are the lifetimes of the cache classes ([cache] overview_ttl, nav_ttl, prices_ttl,
// default_ttl; config.CacheConfig maps them): they bound the staleness of data that does not
// come through the log.
type CacheTTLs struct {
	Overview, Nav, Prices, Default time.Duration
}

// Classes returns the lifetime of every cache class, indexed by class, for cache.Config: each
// read route's TTL (resources.go), else Default.
func (t CacheTTLs) Classes() []time.Duration {
	ttl := make([]time.Duration, numCacheClasses)
	ttl[reportClass] = t.Default
	for i := range routes {
		if rd := routes[i].read; rd != nil {
			ttl[rd.class] = t.Default
			if rd.ttl != nil {
				ttl[rd.class] = rd.ttl(t)
			}
		}
	}
	return ttl
}

// What invalidates the cache classes (initReads, from the route table): the classes of the
// reads of each fund class, of each kind of path parameter, and of each materialized view.
var (
	classInvalidates [fund.NumClasses][]cache.Class
	paramClasses     [numParamKinds][]cache.Class
	viewClass        map[string]cache.Class
)

// CacheUpdater keeps the cache in step with the state machine: it invalidates what each
// committed batch changed and writes the re-rendered materialized views through. It is a
// fund.Observer, called on the apply path before the batch's index is published to readers.
type CacheUpdater struct {
	c     *cache.Cache
	auth  *auth.Auth
	fees  *readmodel.FeeSums
	flows *report.FlowSums
}

// NewCacheUpdater returns an observer for c and for the wallet sessions and roles a (the
// same a the server authenticates with) keeps, and for the running sums of the fees and of the
// open reports' flows it makes: all are updated before a batch's index is published, and all
// are forgotten on a snapshot restore.
func NewCacheUpdater(c *cache.Cache, a *auth.Auth) *CacheUpdater {
	return &CacheUpdater{c: c, auth: a, fees: readmodel.NewFeeSums(), flows: report.NewFlowSums()}
}

// FeeSums returns the running fee sums this updater keeps in step with apply, for
// Deps.FeeSums.
func (u *CacheUpdater) FeeSums() *readmodel.FeeSums { return u.fees }

// FlowSums returns the running sums of the open reports' flows this updater keeps in step
// with apply, for Deps.FlowSums.
func (u *CacheUpdater) FlowSums() *report.FlowSums { return u.flows }

// Applied implements fund.Observer.
func (u *CacheUpdater) Applied(ch *fund.Changes) {
	u.auth.Applied(ch)
	u.fees.Applied(ch)
	u.flows.Applied(ch)
	c, idx := u.c, ch.Index
	for fc, changed := range ch.Classes {
		if changed {
			for _, cc := range classInvalidates[fc] {
				c.Invalidate(cc, idx)
			}
		}
	}
	for _, a := range ch.Accounts {
		for _, cc := range paramClasses[accountParam] {
			c.InvalidateGroup(cc, a[:], idx)
		}
	}
	for _, id := range ch.Redemptions {
		for _, cc := range paramClasses[redemptionParam] {
			c.InvalidateGroup(cc, []byte(id), idx)
		}
	}
	for _, asset := range ch.Prices {
		for _, cc := range paramClasses[assetParam] {
			c.InvalidateGroup(cc, []byte(asset), idx)
		}
	}
	for _, v := range ch.Views {
		cc, ok := viewClass[v.Name]
		if !ok {
			continue
		}
		// A view is re-rendered when any class it depends on changed, which may not be its own
		// class: invalidate before writing through, so no older rendering can win a race.
		c.Invalidate(cc, idx)
		p := entryPrefix(encIdentity, xxhash.Sum64(v.Body))
		c.Set(cc, nil, []byte(v.Name), idx, p[:], v.Body)
	}
}

// Restored implements the store's restore hook: after a snapshot replaced the state, nothing
// cached from the old state may be served.
func (u *CacheUpdater) Restored(index uint64) {
	u.auth.Restored()
	u.fees.Reset(index)
	u.flows.Reset(index)
	u.c.Reset()
	for cc := range numCacheClasses {
		u.c.Invalidate(cc, index)
	}
}
