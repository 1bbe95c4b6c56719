package fund

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"paimon/chainlog"

	"github.com/holiman/uint256"

	"paimon/version"
)

// Command types: the first byte of every fund command. Append only, never renumber.
// 5..0xEF are reserved for the fund; 0xF0..0xFF belong to raftstore.
const (
	CmdLogs     byte = 1
	CmdPrices   byte = 2
	CmdAudit    byte = 3
	CmdSyncMark byte = 4 // the replicated sync high-water mark (outbox.go)
	// 5: CmdIngest (ingest.go); 6..10: CmdNonce, CmdLogin, CmdTouch, CmdLogout, CmdRole
	// (session.go); 11: CmdPriceDelete (pricedelete.go); 12, 13: CmdRiskEvent, CmdRiskResolve
	// (risk_cmd.go); 17..19 approvals (approvals_cmd.go); 20, 21: CmdTxIntent, CmdTxUpdate
	// (txintent.go); 22: CmdTicketRetry (approvals_retry.go); 23 reserved for issue 12; 24, 25:
	// CmdRebalancePlan, CmdRebalanceExecute (rebalance_cmd.go); 26: CmdRebalanceCancel
	// (rebalance_cancel.go); 27..29 see COORD.md.
)

// codecVersion is the second byte of every command this release writes, recVersion
// (records.go) the first byte of every record. Formats only grow: a decoder accepts every
// version from 1 up to the current one and upcasts an older one to the current struct (the
// decoder of each type branches on dec.ver where a version changed it), and refuses a newer one
// with ErrFutureFormat naming the version (see DESIGN.md, "Format versions"). A new version is
// written only once the cluster version allows it: an older member must never receive it.
const codecVersion byte = 1

// OrderedVersion is the version of CmdLogs and CmdPrices applied as issue 18 says: logs at
// their place in the ledger order within the reorder window, removals matched by block hash,
// prices from the future refused (order.go). Version 1 keeps v0.1.0's rules, so that a cluster
// in the middle of an upgrade from v0.1.0, or a node replaying v0.1.0's log, applies them as
// v0.1.0 did: the server writes version 2 only once the cluster version allows it
// (CommandVersion says it needs this release's).
const OrderedVersion byte = 2

// RiskVersion is the version of CmdIngest that stores CHAIN risk events as whole events
// (record version 2, risk.go) and raises what follows from them; version 1 stores them as
// v0.1.0 did. The ingester writes it once the cluster version allows (CommandVersion).
const RiskVersion byte = 2

// writeVersion is the version byte of a CmdLogs or CmdPrices command asked for version v.
func writeVersion(v byte) byte {
	if v == 0 || v > OrderedVersion {
		return OrderedVersion
	}
	return v
}

// newestVersion is the newest version of a command type this release reads.
func newestVersion(typ byte) byte {
	if typ == CmdLogs || typ == CmdPrices {
		return OrderedVersion
	}
	if typ == CmdIngest {
		return RiskVersion
	}
	return codecVersion
}

// CommandVersion returns the cluster version a command needs (raftstore.Config.CommandVersion):
// version.Base for the types and versions v0.1.0 applies, version.Cluster (this release's) for
// anything else, so that a command type or version added since is proposed only once every
// member runs a release that has it. A type added in a later release keeps that release's
// version here when the next one raises version.Cluster: add it to the switch then.
func CommandVersion(cmd []byte) string {
	if len(cmd) < 2 {
		return version.Base
	}
	switch cmd[0] {
	case CmdRole:
		// v0.1.0 refuses the approver role (a user error there, a grant here: the replicas
		// would differ).
		if c, err := DecodeRole(cmd); err == nil && cmd[1] == 1 && c.Role != "approver" {
			return version.Base
		}
	case CmdLogs, CmdPrices, CmdAudit, CmdSyncMark, CmdIngest, CmdNonce, CmdLogin, CmdTouch, CmdLogout:
		if cmd[1] == 1 {
			return version.Base
		}
	}
	return version.Cluster
}

// Limits enforced by the request parsers and by the command decoder.
const (
	MaxLogsPerRequest   = 10000
	MaxPricesPerRequest = 1000
)

// Actor is who issued a command: the authenticated principal of an HTTP write. The zero
// Actor is the system (ingest), which writes no audit entry.
type Actor struct {
	Name, Role, IP, UserAgent string
}

// IsZero reports whether a is the system actor.
func (a Actor) IsZero() bool { return a == Actor{} }

// LogsCommand applies decoded chain events. Time is the proposer's clock (unix ns); Skipped
// counts logs the proposer could not decode (reported back and audited, not applied).
type LogsCommand struct {
	Time    int64
	Actor   Actor
	Events  []chainlog.Event
	Skipped int
	// Version is the command version to write (0: OrderedVersion) or that was read: 1 applies
	// v0.1.0's rules (arrival order, removals by transaction and index).
	Version byte
	// ReorderWindow (version 2 only) is the reorder window the command is applied with, in
	// blocks (order.go): the proposer's ingest.reorder_window_blocks, written into the command
	// so that every replica applies the same rule whatever its own configuration. 0 is no
	// window (tests; the server always writes its configured one, at least 1). Version 1 does
	// not carry it (it has no window).
	ReorderWindow uint64
}

// PriceUpdate is one operator price: asset address, 1e18-scaled USD price, time (unix s).
type PriceUpdate struct {
	Asset string
	Price uint256.Int
	Time  int64
}

// PricesCommand applies operator price pushes (source "api").
type PricesCommand struct {
	Time   int64
	Actor  Actor
	Prices []PriceUpdate
	// Version is the command version to write (0: OrderedVersion) or that was read: 1 does
	// not refuse prices from the future (v0.1.0).
	Version byte
	// MaxFutureSkew (version 2 only) is how far ahead of Time a price may be; later ones are
	// refused. It is the proposer's prices.max_future_skew, written into the command so that
	// every replica applies the same rule whatever its own configuration. 0 (or negative)
	// checks nothing (tests; the server always writes its configured one, above 0). Version 1
	// does not carry it (it has no such check).
	MaxFutureSkew time.Duration
}

// EncodeLogs encodes c as a CmdLogs command: type, version, time, actor, (version 2 only) the
// reorder window, skipped, the events. Version 1 is v0.1.0's layout byte for byte.
func EncodeLogs(c *LogsCommand) []byte {
	b := make([]byte, 0, 64+160*len(c.Events))
	v := writeVersion(c.Version)
	b = append(b, CmdLogs, v)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	if v >= OrderedVersion {
		b = binary.AppendUvarint(b, c.ReorderWindow)
	}
	b = binary.AppendUvarint(b, uint64(max(c.Skipped, 0)))
	b = binary.AppendUvarint(b, uint64(len(c.Events)))
	for i := range c.Events {
		b = appendEvent(b, &c.Events[i])
	}
	return b
}

// EncodePrices encodes c as a CmdPrices command: type, version, time, actor, (version 2 only)
// the max future skew in nanoseconds, the prices. Version 1 is v0.1.0's layout byte for byte.
func EncodePrices(c *PricesCommand) []byte {
	b := make([]byte, 0, 64+64*len(c.Prices))
	v := writeVersion(c.Version)
	b = append(b, CmdPrices, v)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	if v >= OrderedVersion {
		b = binary.AppendUvarint(b, uint64(max(c.MaxFutureSkew, 0)))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Prices)))
	for i := range c.Prices {
		p := &c.Prices[i]
		if a, err := chainlog.ParseAddress(p.Asset); err == nil {
			b = append(b, 0)
			b = append(b, a[:]...)
		} else {
			// Kept verbatim so that Apply can refuse it as a user error.
			b = append(b, 1)
			b = appendString(b, p.Asset)
		}
		b = appendU256(b, &p.Price)
		b = binary.AppendVarint(b, p.Time)
	}
	return b
}

// DecodeLogs decodes a CmdLogs command strictly (version, truncation, trailing bytes,
// canonical amounts); errors wrap ErrBadCommand. Events are not checked against their specs.
func DecodeLogs(cmd []byte) (*LogsCommand, error) {
	d, err := newDec(cmd, CmdLogs)
	if err != nil {
		return nil, err
	}
	c := &LogsCommand{Time: d.varint(), Version: d.ver}
	d.actor(&c.Actor)
	if d.ver >= OrderedVersion {
		c.ReorderWindow = d.uvarint()
	}
	c.Skipped = d.count(0)
	n := d.count(minEventSize)
	if d.err == nil && n > 0 {
		c.Events = make([]chainlog.Event, n)
		for i := 0; i < n && d.err == nil; i++ {
			d.event(&c.Events[i])
		}
	}
	return c, d.finish()
}

// DecodePrices decodes a CmdPrices command strictly; errors wrap ErrBadCommand.
func DecodePrices(cmd []byte) (*PricesCommand, error) {
	d, err := newDec(cmd, CmdPrices)
	if err != nil {
		return nil, err
	}
	c := &PricesCommand{Time: d.varint(), Version: d.ver}
	d.actor(&c.Actor)
	if d.ver >= OrderedVersion {
		skew := d.uvarint()
		if skew > math.MaxInt64 {
			d.fail("max future skew out of range")
		}
		c.MaxFutureSkew = time.Duration(skew)
	}
	n := d.count(3)
	if d.err == nil && n > 0 {
		c.Prices = make([]PriceUpdate, n)
		for i := 0; i < n && d.err == nil; i++ {
			p := &c.Prices[i]
			switch d.u8() {
			case 0:
				p.Asset = chainlog.HexAddress([20]byte(d.fixed(20)))
			case 1:
				p.Asset = d.str()
			default:
				d.fail("bad asset tag")
			}
			d.u256(&p.Price)
			p.Time = d.varint()
		}
	}
	return c, d.finish()
}

func appendActor(b []byte, a *Actor) []byte {
	b = appendString(b, a.Name)
	b = appendString(b, a.Role)
	b = appendString(b, a.IP)
	return appendString(b, a.UserAgent)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBytes writes p as appendString writes a string, without converting it to one.
func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// appendU256 writes a length byte and the minimal big-endian bytes.
func appendU256(b []byte, u *uint256.Int) []byte {
	n := (u.BitLen() + 7) / 8
	b = append(b, byte(n))
	var buf [32]byte
	u.WriteToSlice(buf[:])
	return append(b, buf[32-n:]...)
}

// minEventSize bounds allocations from a hostile count.
const minEventSize = 1 + 32 + 1 + 1 + 32 + 1 + 20 + 1 + 1 + 1

func appendEvent(b []byte, e *chainlog.Event) []byte {
	var flags byte
	if e.Removed {
		flags = 1
	}
	b = append(b, flags)
	b = append(b, e.TxHash[:]...)
	b = binary.AppendUvarint(b, e.LogIndex)
	b = binary.AppendUvarint(b, e.BlockNumber)
	b = append(b, e.BlockHash[:]...)
	b = binary.AppendVarint(b, e.BlockTime)
	b = append(b, e.Contract[:]...)
	b = append(b, byte(e.Kind))
	b = appendString(b, e.Name)
	b = binary.AppendUvarint(b, uint64(len(e.Args)))
	for i := range e.Args {
		a := &e.Args[i]
		b = append(b, byte(a.Type))
		switch a.Type {
		case chainlog.ArgAddress:
			b = append(b, a.Address[:]...)
		case chainlog.ArgUint256, chainlog.ArgUint8:
			b = appendU256(b, &a.Uint)
		case chainlog.ArgBool:
			if a.Bool {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case chainlog.ArgString:
			b = appendString(b, a.String)
		}
	}
	return b
}

// dec is a strict reader with a sticky error.
type dec struct {
	b   []byte
	err error
	// ver is the format version of the command or record being read (1..current), set by
	// newDec or recordVersion, for decoders that upcast older versions.
	ver byte
}

func newDec(cmd []byte, typ byte) (*dec, error) {
	if len(cmd) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(cmd))
	}
	if cmd[0] != typ {
		return nil, fmt.Errorf("%w: type %d, want %d", ErrBadCommand, cmd[0], typ)
	}
	if err := checkVersion(fmt.Sprintf("command type %d", typ), cmd[1], newestVersion(typ)); err != nil {
		return nil, err
	}
	return &dec{b: cmd[2:], ver: cmd[1]}, nil
}

// checkVersion accepts the versions 1..newest of a format and refuses others: 0 as a bad
// encoding, a newer one as ErrFutureFormat (also ErrBadCommand, so the FSM stops on it).
func checkVersion(what string, v, newest byte) error {
	switch {
	case v == 0:
		return fmt.Errorf("%w: %s: version 0", ErrBadCommand, what)
	case v > newest:
		return fmt.Errorf("%w: %w: %s has format version %d, this release reads versions 1 to %d: it was written by a newer release",
			ErrBadCommand, ErrFutureFormat, what, v, newest)
	}
	return nil
}

// recordVersion reads a record's leading version byte and accepts 1..recVersion.
func (d *dec) recordVersion() {
	v := d.u8()
	if d.err != nil {
		return
	}
	if err := checkVersion("record", v, recVersion); err != nil {
		d.err, d.b = err, nil
		return
	}
	d.ver = v
}

func (d *dec) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadCommand, msg)
	}
	d.b = nil
}

func (d *dec) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

func (d *dec) u8() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) fixed(n int) []byte {
	if len(d.b) < n {
		d.fail("truncated")
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count whose items take at least minSize bytes each (0: no bound).
func (d *dec) count(minSize int) int {
	v := d.uvarint()
	if v > 1<<31 || (minSize > 0 && v > uint64(len(d.b)/minSize)) {
		d.fail("count out of range")
		return 0
	}
	return int(v)
}

func (d *dec) str() string {
	return string(d.raw())
}

// raw reads what str reads and returns it without copying: a slice of the input.
func (d *dec) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("truncated string")
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *dec) u256(z *uint256.Int) {
	n := int(d.u8())
	if n > 32 {
		d.fail("uint256 longer than 32 bytes")
		return
	}
	v := d.fixed(n)
	if n > 0 && v[0] == 0 {
		d.fail("uint256 not minimal")
		return
	}
	z.SetBytes(v)
}

func (d *dec) actor(a *Actor) {
	a.Name, a.Role, a.IP, a.UserAgent = d.str(), d.str(), d.str(), d.str()
}

func (d *dec) event(e *chainlog.Event) {
	flags := d.u8()
	if flags > 1 {
		d.fail("bad event flags")
		return
	}
	e.Removed = flags == 1
	e.TxHash = [32]byte(d.fixed(32))
	e.LogIndex = d.uvarint()
	e.BlockNumber = d.uvarint()
	e.BlockHash = [32]byte(d.fixed(32))
	e.BlockTime = d.varint()
	e.Contract = [20]byte(d.fixed(20))
	e.Kind = chainlog.Kind(d.u8())
	name := d.fixed(int(min(d.uvarint(), uint64(len(d.b)+1))))
	if s := chainlog.SpecByName(string(name)); s != nil {
		e.Name = s.Name // interned: no allocation per event
	} else {
		e.Name = string(name)
	}
	n := d.count(2)
	if d.err != nil {
		return
	}
	e.Args = make([]chainlog.Arg, n)
	s := chainlog.SpecByName(e.Name)
	for i := range e.Args {
		a := &e.Args[i]
		a.Type = chainlog.ArgType(d.u8())
		if s != nil && i < len(s.Args) {
			a.Name = s.Args[i].Name
		}
		switch a.Type {
		case chainlog.ArgAddress:
			a.Address = [20]byte(d.fixed(20))
		case chainlog.ArgUint256, chainlog.ArgUint8:
			d.u256(&a.Uint)
		case chainlog.ArgBool:
			switch d.u8() {
			case 0:
			case 1:
				a.Bool = true
			default:
				d.fail("bad bool")
			}
		case chainlog.ArgString:
			a.String = d.str()
		default:
			d.fail("bad argument type")
		}
		if d.err != nil {
			return
		}
	}
}
