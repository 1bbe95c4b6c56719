package push

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"paimon/auth"
	"paimon/readmodel"
)

// Channel is one WebSocket channel the hub serves. A node's channels are declared by the
// server's route table (server.Channels): a row that names a channel gives it its access and
// says what feeds it.
type Channel struct {
	// Name is the channel's name. A name ending in ':' is one channel per address: "account:"
	// stands for every account:{address}.
	Name string
	// Access is who may subscribe (auth checks it as it checks a route's).
	Access auth.Access
	// Record is the kind of record each of whose changes the channel carries, as its GET
	// renders it (readmodel.RecordJSON); a per-address channel carries those of its address. Or
	// View is the materialized view the channel carries, once per batch that changes it.
	Record readmodel.RecordKind
	View   string
	// Pending: the channel also carries the pending and removed frames of unconfirmed chain
	// events (a per-address channel, those of the event's addresses).
	Pending bool
}

// PerAddress reports whether the channel is one channel per address.
func (c Channel) PerAddress() bool { return strings.HasSuffix(c.Name, ":") }

// kind indexes the hub's channels (catalog.chans); a per-address channel is one kind.
type kind uint8

// channel is a channel a client names: its kind, its name (the per-address prefix for a
// per-address kind) and, for a per-address kind, the address.
type channel struct {
	kind    kind
	perAddr bool
	base    string
	addr    [20]byte
}

// catalog is the hub's channels, indexed by what looks them up.
type catalog struct {
	chans    []Channel
	byName   map[string]kind // single channels
	prefixes []kind          // per-address channels
	byRecord map[readmodel.RecordKind]kind
	byView   map[string]kind
	pending  []kind
	names    string // for the unknown-channel error
}

func newCatalog(cs []Channel) (*catalog, error) {
	if len(cs) == 0 || len(cs) > 255 {
		return nil, errors.New("push: a hub needs 1 to 255 channels")
	}
	cat := &catalog{chans: cs, byName: map[string]kind{}, byRecord: map[readmodel.RecordKind]kind{}, byView: map[string]kind{}}
	var names []string
	for i, c := range cs {
		k := kind(i)
		if c.Name == "" || c.Name == ":" {
			return nil, fmt.Errorf("push: channel %d has no name", i)
		}
		if (c.Record == readmodel.RecordOther) == (c.View == "") {
			return nil, fmt.Errorf("push: channel %s: carries records or a view, one of both", c.Name)
		}
		if c.PerAddress() != (c.Record == readmodel.RecordAccount) {
			return nil, fmt.Errorf("push: channel %s: only the records of accounts are per address", c.Name)
		}
		if _, dup := cat.byName[c.Name]; dup {
			return nil, fmt.Errorf("push: channel %s is declared twice", c.Name)
		}
		cat.byName[c.Name] = k
		if c.PerAddress() {
			cat.prefixes = append(cat.prefixes, k)
			names = append(names, c.Name+"{address}")
		} else {
			names = append(names, c.Name)
		}
		if c.Record != readmodel.RecordOther {
			if _, dup := cat.byRecord[c.Record]; dup {
				return nil, fmt.Errorf("push: channel %s: record kind %d feeds another channel", c.Name, c.Record)
			}
			cat.byRecord[c.Record] = k
		} else {
			if _, dup := cat.byView[c.View]; dup {
				return nil, fmt.Errorf("push: channel %s: view %s feeds another channel", c.Name, c.View)
			}
			cat.byView[c.View] = k
		}
		if c.Pending {
			cat.pending = append(cat.pending, k)
		}
	}
	for _, k := range cat.prefixes {
		delete(cat.byName, cs[k].Name) // "account:" alone is not a channel
	}
	// A pending event goes to the single channels first, then to its addresses' channels.
	slices.SortStableFunc(cat.pending, func(a, b kind) int {
		return cmp.Compare(boolInt(cs[a].PerAddress()), boolInt(cs[b].PerAddress()))
	})
	cat.names = strings.Join(names, ", ")
	return cat, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// channel returns the channel of kind k (addr for a per-address kind).
func (cat *catalog) channel(k kind, addr [20]byte) channel {
	c := channel{kind: k, base: cat.chans[k].Name, perAddr: cat.chans[k].PerAddress()}
	if c.perAddr {
		c.addr = addr
	}
	return c
}

// parse parses a channel name; an address may be in any case.
func (cat *catalog) parse(name string) (channel, *frameError) {
	if k, ok := cat.byName[name]; ok {
		return cat.channel(k, [20]byte{}), nil
	}
	for _, k := range cat.prefixes {
		if a, ok := strings.CutPrefix(name, cat.chans[k].Name); ok {
			addr, err := readmodel.ParseAddress(a)
			if err != nil {
				return channel{}, &frameError{code: codeValidation, msg: fmt.Sprintf("channel %.60q: address must be 0x and 40 hex digits", name)}
			}
			return cat.channel(k, addr), nil
		}
	}
	return channel{}, &frameError{code: codeValidation, msg: fmt.Sprintf("unknown channel %.60q; channels are %s", name, cat.names)}
}

const hexDigits = "0123456789abcdef"

func appendAddress(b []byte, a *[20]byte) []byte {
	b = append(b, '0', 'x')
	for _, c := range a {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// String is the canonical channel name (addresses in lower case).
func (c channel) String() string { return string(c.appendName(nil)) }

func (c channel) appendName(b []byte) []byte {
	b = append(b, c.base...)
	if c.perAddr {
		b = appendAddress(b, &c.addr)
	}
	return b
}
