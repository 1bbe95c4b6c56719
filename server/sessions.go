package server

import (
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"paimon/fund"
	"paimon/kv"
)

// SessionCache holds the wallet sessions and roles this node has seen in use, in front of the
// replicated state: a lookup that misses reads the local replica once, and every applied
// change to a session or a role updates the cache before the batch's index is published
// (fund.Observer, through the CacheUpdater), so a logout or a role change holds on this node
// from the index that made it.
//
// A fill after a miss races with apply: the replica read may predate a logout applied while
// it ran. gen counts applied changes; a fill stores its result only if no change was applied
// since it began, so a revoked session is never put back.
type SessionCache struct {
	mu       sync.RWMutex
	gen      uint64
	sessions map[[32]byte]fund.Session
	roles    map[[20]byte]role // replicated roles; roleNone cached for "none granted"
}

func newSessionCache() *SessionCache {
	return &SessionCache{sessions: map[[32]byte]fund.Session{}, roles: map[[20]byte]role{}}
}

// applied follows a committed batch.
func (c *SessionCache) applied(ch *fund.Changes) {
	if !ch.Reloaded && len(ch.Sessions) == 0 && len(ch.Roles) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if ch.Reloaded {
		clear(c.sessions)
		clear(c.roles)
	}
	for _, s := range ch.Sessions {
		if s.Session == nil {
			delete(c.sessions, s.TokenHash)
		} else {
			c.sessions[s.TokenHash] = *s.Session
		}
	}
	for _, r := range ch.Roles {
		rr, _ := parseRole(r.Role) // "" (removed) is roleNone
		c.roles[r.Address] = rr
	}
}

// reset forgets everything (after a snapshot restore).
func (c *SessionCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.sessions)
	clear(c.roles)
}

// cached returns the session under token hash h and its wallet's replicated role when both
// are cached: the hot path of an authenticated request, one read lock.
func (c *SessionCache) cached(h *[32]byte) (s fund.Session, r role, ok bool) {
	c.mu.RLock()
	s, ok = c.sessions[*h]
	if ok {
		r, ok = c.roles[s.Address]
	}
	c.mu.RUnlock()
	return s, r, ok
}

// session returns the session under token hash h, reading the replica on a miss. It does not
// check expiry.
func (c *SessionCache) session(h *[32]byte, read func() (kv.Reader, func(), error)) (fund.Session, bool, error) {
	c.mu.RLock()
	s, ok := c.sessions[*h]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return s, true, nil
	}
	r, done, err := read()
	if err != nil {
		return fund.Session{}, false, err
	}
	s, ok, err = fund.ReadSession(r, *h)
	done()
	if err != nil || !ok {
		// Absence is not cached: a flood of unknown tokens must not grow the map (it is
		// rate limited by IP instead).
		return fund.Session{}, false, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.sessions[*h] = s
	}
	c.mu.Unlock()
	return s, true, nil
}

// role returns the replicated role of a wallet, reading the replica on a miss.
func (c *SessionCache) role(a *[20]byte, read func() (kv.Reader, func(), error)) (role, error) {
	c.mu.RLock()
	r, ok := c.roles[*a]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	rd, done, err := read()
	if err != nil {
		return roleNone, err
	}
	name, err := fund.ReadRole(rd, common.Address(*a))
	done()
	if err != nil {
		return roleNone, err
	}
	r, _ = parseRole(name)
	c.mu.Lock()
	// Wallets that signed in are few; a role lookup only follows a valid session.
	if c.gen == gen {
		c.roles[*a] = r
	}
	c.mu.Unlock()
	return r, nil
}
