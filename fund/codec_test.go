package fund

import (
	"errors"
	"paimon/chainlog"
	"reflect"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	evs := allEvents()
	evs[3].Removed = true
	evs[4].BlockTime = 0
	c := &LogsCommand{Time: 1_736_200_000_123_456_789, Actor: Actor{Name: "ops", Role: "operator", IP: "10.0.0.1", UserAgent: "curl/8"}, Events: evs, Skipped: 3, Version: OrderedVersion}
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
	empty, err := DecodeLogs(EncodeLogs(&LogsCommand{}))
	if err != nil || len(empty.Events) != 0 {
		t.Fatalf("empty: %v %v", empty, err)
	}
}

func TestCodecStrict(t *testing.T) {
	cmds := map[string][]byte{
		"logs":   EncodeLogs(&LogsCommand{Time: 9, Actor: Actor{Name: "x"}, Events: allEvents()[:4], Skipped: 1}),
		"prices": EncodePrices(&PricesCommand{Time: 9, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(300), Time: 7}}}),
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
