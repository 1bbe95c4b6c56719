package fund

import (
	"bytes"
	"encoding/binary"
	"errors"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"reflect"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	evs := chainlogtest.AllEvents(testNow)
	evs[3].Removed = true
	evs[4].BlockTime = 0
	c := &LogsCommand{Time: 1_736_200_000_123_456_789, Actor: Actor{Name: "ops", Role: "operator", IP: "10.0.0.1", UserAgent: "curl/8"}, Events: evs, Skipped: 3, Version: OrderedVersion, ReorderWindow: 10_000_000}
	got, err := DecodeLogs(EncodeLogs(c))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("logs round trip:\n%+v\nwant\n%+v", got, c)
	}
	p := &PricesCommand{Time: -5, Actor: Actor{Name: "a"}, Prices: []PriceUpdate{
		{Asset: chainlog.HexAddress(addr(1)), Price: *e18(3), Time: testNow},
		{Asset: "not an address", Price: *u(0), Time: 0},
	}, Version: 1}
	gotP, err := DecodePrices(EncodePrices(p))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotP, p) {
		t.Fatalf("prices round trip:\n%+v\nwant\n%+v", gotP, p)
	}
	p.Version, p.MaxFutureSkew = OrderedVersion, 24*time.Hour
	if gotP, err = DecodePrices(EncodePrices(p)); err != nil || !reflect.DeepEqual(gotP, p) {
		t.Fatalf("prices version 2 round trip: %v\n%+v\nwant\n%+v", err, gotP, p)
	}
	// Version 1 has no window and no skew: asked for, they are not written.
	c.Version = 1
	if got, err = DecodeLogs(EncodeLogs(c)); err != nil || got.ReorderWindow != 0 || got.Version != 1 {
		t.Fatalf("logs version 1: %v %+v", err, got)
	}
	p.Version = 1
	if gotP, err = DecodePrices(EncodePrices(p)); err != nil || gotP.MaxFutureSkew != 0 || gotP.Version != 1 {
		t.Fatalf("prices version 1: %v %+v", err, gotP)
	}
	empty, err := DecodeLogs(EncodeLogs(&LogsCommand{}))
	if err != nil || len(empty.Events) != 0 {
		t.Fatalf("empty: %v %v", empty, err)
	}
}

func TestCodecStrict(t *testing.T) {
	cmds := map[string][]byte{
		"logs":      EncodeLogs(&LogsCommand{Time: 9, Actor: Actor{Name: "x"}, Events: chainlogtest.AllEvents(testNow)[:4], Skipped: 1, ReorderWindow: 300}),
		"prices":    EncodePrices(&PricesCommand{Time: 9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(300), Time: 7}}, MaxFutureSkew: 5 * time.Minute}),
		"logs v1":   EncodeLogs(&LogsCommand{Time: 9, Actor: Actor{Name: "x"}, Events: chainlogtest.AllEvents(testNow)[:4], Skipped: 1, Version: 1}),
		"prices v1": EncodePrices(&PricesCommand{Time: 9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(300), Time: 7}}, Version: 1}),
	}
	for name, cmd := range cmds {
		t.Run(name, func(t *testing.T) {
			dec := DecodeLogs
			if cmd[0] == CmdPrices {
				dec = func(b []byte) (*LogsCommand, error) { _, err := DecodePrices(b); return nil, err }
			}
			for i := 0; i < len(cmd); i++ {
				if _, err := dec(cmd[:i]); !errors.Is(err, ErrBadCommand) {
					t.Fatalf("truncated to %d bytes: err %v", i, err)
				}
			}
			if _, err := dec(append(append([]byte(nil), cmd...), 0)); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("trailing byte: err %v", err)
			}
			bad := append([]byte(nil), cmd...)
			bad[1] = OrderedVersion + 1
			if _, err := dec(bad); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("version: err %v", err)
			}
			if _, err := dec(cmd); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCodecVersion2Layout: version 2 of CmdLogs and CmdPrices is version 1 (v0.1.0's layout,
// unchanged) with the proposer's rule inserted after the actor: the reorder window in blocks,
// the max future skew in nanoseconds (uvarints). A skew beyond int64 is refused.
func TestCodecVersion2Layout(t *testing.T) {
	actor := Actor{Name: "ops", Role: "operator", IP: "10.0.0.1", UserAgent: "curl/8"}
	head := appendActor(binary.AppendVarint(nil, 9), &actor) // time, actor
	lc := &LogsCommand{Time: 9, Actor: actor, Events: chainlogtest.AllEvents(testNow)[:3], Skipped: 2, ReorderWindow: 300}
	pc := &PricesCommand{Time: 9, Actor: actor, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(300), Time: 7}}, MaxFutureSkew: 5 * time.Minute}
	for _, tc := range []struct {
		name   string
		v1, v2 []byte
		rule   uint64
	}{
		{"logs", EncodeLogs(&LogsCommand{Time: 9, Actor: actor, Events: lc.Events, Skipped: 2, Version: 1}), EncodeLogs(lc), 300},
		{"prices", EncodePrices(&PricesCommand{Time: 9, Actor: actor, Prices: pc.Prices, Version: 1}), EncodePrices(pc), uint64(5 * time.Minute)},
	} {
		if tc.v1[1] != 1 || tc.v2[1] != OrderedVersion {
			t.Fatalf("%s: versions %d and %d", tc.name, tc.v1[1], tc.v2[1])
		}
		n := 2 + len(head)
		if !bytes.Equal(tc.v1[2:n], head) {
			t.Fatalf("%s: version 1 does not start with the time and the actor", tc.name)
		}
		want := append(append(append([]byte{tc.v1[0], OrderedVersion}, head...), binary.AppendUvarint(nil, tc.rule)...), tc.v1[n:]...)
		if !bytes.Equal(tc.v2, want) {
			t.Fatalf("%s: version 2\n%x\nwant\n%x", tc.name, tc.v2, want)
		}
	}
	big := append(append([]byte{CmdPrices, OrderedVersion}, head...), binary.AppendUvarint(nil, 1<<63)...)
	big = binary.AppendUvarint(big, 0) // no prices
	if _, err := DecodePrices(big); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("a skew beyond int64: %v", err)
	}
}
