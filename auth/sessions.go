package auth

import (
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"

	"paimon/fund"
	"paimon/kv"
)

// sessionCache holds the wallet sessions and roles this node has seen in use, in front of the
// replicated state: a lookup that misses reads the local replica once, and every applied
// change to a session or a role updates the cache before the batch's index is published
// (fund.Observer, through Auth.Applied), so a logout or a role change holds on this node
// from the index that made it.
//
// A fill after a miss races with apply: the replica read may predate a logout applied while
// it ran. gen counts applied changes; a fill stores its result only if no change was applied
// since it began, so a revoked session is never put back.
//
// The index of raw tokens remembers the tokens of cached sessions this node has verified (by
// their SHA-256), each with what a request needs (hash, wallet, expiry, replicated role), so
// that a request with a known token costs one atomic load and one map lookup: no lock, no
// hash. The raw token only ever lives in this node's memory, as in the request. The index is
// sharded and copied on write (a token is added on its first use on this node and removed when
// its session closes); apply updates an entry's expiry and role in place, atomically.
type sessionCache struct {
	mu       sync.RWMutex
	gen      uint64
	sessions map[[32]byte]fund.Session
	roles    map[[20]byte]Role // replicated roles; RoleNone cached for "none granted"
	entries  map[[32]byte]*tokenEntry
	index    [tokenShards]atomic.Pointer[map[string]*tokenEntry]
}

const tokenShards = 64

// tokenEntry is a verified session token's state. expires 0 marks a closed session.
type tokenEntry struct {
	token   string
	hash    [32]byte
	addr    [20]byte
	expires atomic.Int64
	role    atomic.Uint32 // replicated role
}

func newSessionCache() *sessionCache {
	c := &sessionCache{sessions: map[[32]byte]fund.Session{}, roles: map[[20]byte]Role{}, entries: map[[32]byte]*tokenEntry{}}
	for i := range c.index {
		c.index[i].Store(&map[string]*tokenEntry{})
	}
	return c
}

// shardOf picks a token's shard from its last byte (a token ends in random hex).
func shardOf(tok []byte) int { return int(tok[len(tok)-1]) % tokenShards }

// setIndexLocked adds (e) or removes (nil) tok in its shard: a copy of the shard's map.
func (c *sessionCache) setIndexLocked(tok string, e *tokenEntry) {
	sh := &c.index[shardOf([]byte(tok))]
	old := *sh.Load()
	m := make(map[string]*tokenEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if e != nil {
		m[tok] = e
	} else {
		delete(m, tok)
	}
	sh.Store(&m)
}

// forgetLocked drops a session and its raw token.
func (c *sessionCache) forgetLocked(h [32]byte) {
	delete(c.sessions, h)
	if e, ok := c.entries[h]; ok {
		e.expires.Store(0) // a reader holding the old shard map sees it closed
		delete(c.entries, h)
		c.setIndexLocked(e.token, nil)
	}
}

func (c *sessionCache) clearLocked() {
	clear(c.sessions)
	clear(c.roles)
	for _, e := range c.entries {
		e.expires.Store(0)
	}
	clear(c.entries)
	for i := range c.index {
		c.index[i].Store(&map[string]*tokenEntry{})
	}
}

// known is how many sessions the cache holds (open on this node's replica as far as it has
// seen: used here, or opened or extended since the node started).
func (c *sessionCache) known() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.sessions)
}

// applied follows a committed batch.
func (c *sessionCache) applied(ch *fund.Changes) {
	if !ch.Reloaded && len(ch.Sessions) == 0 && len(ch.Roles) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if ch.Reloaded {
		c.clearLocked()
	}
	for _, s := range ch.Sessions {
		if s.Session == nil {
			c.forgetLocked(s.TokenHash)
			continue
		}
		c.sessions[s.TokenHash] = *s.Session
		if e, ok := c.entries[s.TokenHash]; ok {
			e.expires.Store(s.Session.Expires)
		}
	}
	for _, r := range ch.Roles {
		rr, _ := ParseRole(r.Role) // "" (removed) is RoleNone
		c.roles[r.Address] = rr
		for _, e := range c.entries { // role changes are rare admin actions
			if e.addr == r.Address {
				e.role.Store(uint32(rr))
			}
		}
	}
}

// reset forgets everything (after a snapshot restore).
func (c *sessionCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.clearLocked()
}

// cachedToken returns the entry of a raw session token this node verified before: the hot
// path of an authenticated request, lock-free, no hashing, no allocation.
func (c *sessionCache) cachedToken(tok []byte) (*tokenEntry, bool) {
	e, ok := (*c.index[shardOf(tok)].Load())[string(tok)]
	return e, ok
}

// learn remembers tok as the raw token of the cached session h, once its session and role are
// cached (bounded by the sessions cached: one token per session).
func (c *sessionCache) learn(tok []byte, h [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[h]
	if !ok {
		return
	}
	r, ok := c.roles[s.Address]
	if _, known := c.entries[h]; !ok || known {
		return
	}
	e := &tokenEntry{token: string(tok), hash: h, addr: s.Address}
	e.expires.Store(s.Expires)
	e.role.Store(uint32(r))
	c.entries[h] = e
	c.setIndexLocked(e.token, e)
}

// session returns the session under token hash h, reading the replica on a miss. It does not
// check expiry.
func (c *sessionCache) session(h *[32]byte, read func() (kv.Reader, func(), error)) (fund.Session, bool, error) {
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
func (c *sessionCache) role(a *[20]byte, read func() (kv.Reader, func(), error)) (Role, error) {
	c.mu.RLock()
	r, ok := c.roles[*a]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	rd, done, err := read()
	if err != nil {
		return RoleNone, err
	}
	name, err := fund.ReadRole(rd, common.Address(*a))
	done()
	if err != nil {
		return RoleNone, err
	}
	r, _ = ParseRole(name)
	c.mu.Lock()
	// Wallets that signed in are few; a role lookup only follows a valid session.
	if c.gen == gen {
		c.roles[*a] = r
	}
	c.mu.Unlock()
	return r, nil
}
