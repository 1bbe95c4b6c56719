package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	mix, err := parseMix(defaultMix)
	if err != nil {
		t.Fatal(err)
	}
	if len(mix) != len(kinds) {
		t.Fatalf("the default mix has %d kinds, want all %d", len(mix), len(kinds))
	}
	var sum float64
	for _, m := range mix {
		sum += m.Share
	}
	if math.Abs(sum-1) > 1e-9 || formatMix(mix)[:13] != "overview 25%," {
		t.Errorf("shares sum to %v; %s", sum, formatMix(mix))
	}
	mix, err = parseMix(" write = 1, overview=3 ,nav=0")
	if err != nil {
		t.Fatal(err)
	}
	// Kinds in report order, a zero weight left out.
	if len(mix) != 2 || kinds[mix[0].Kind].Key != "overview" || mix[0].Share != 0.75 || kinds[mix[1].Kind].Key != "write" {
		t.Errorf("got %+v", mix)
	}
	for _, tc := range []struct{ in, want string }{
		{"overview", "want key=weight"},
		{"bogus=1", "unknown request kind"},
		{"overview=1,overview=2", "given twice"},
		{"overview=-1", "not a non-negative number"},
		{"overview=x", "not a non-negative number"},
		{"overview=Inf", "not a non-negative number"},
		{"overview=0", "no request kind has a positive weight"},
		{"", "no request kind"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if _, err := parseMix(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseMix(%q) = %v, want an error with %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestDeck(t *testing.T) {
	mix, err := parseMix(defaultMix)
	if err != nil {
		t.Fatal(err)
	}
	d := deck(mix, 1)
	if len(d) != deckSize {
		t.Fatalf("deck of %d", len(d))
	}
	counts := map[int]int{}
	for _, k := range d {
		counts[k]++
	}
	for _, m := range mix {
		if want := int(math.Round(m.Share * deckSize)); counts[m.Kind] != want {
			t.Errorf("%s: %d in the deck, want %d", kinds[m.Kind].Key, counts[m.Kind], want)
		}
	}
	// Shuffled: the first 1,000 requests already carry every kind, and the order depends on
	// the seed only.
	first := map[int]bool{}
	for _, k := range d[:1000] {
		first[k] = true
	}
	if len(first) != len(mix) {
		t.Errorf("the first 1,000 requests have %d kinds of %d", len(first), len(mix))
	}
	if !slices.Equal(d, deck(mix, 1)) || slices.Equal(d, deck(mix, 2)) {
		t.Error("the deck is not a function of the seed")
	}
	// Shares that do not divide 10,000 still fill it exactly; a tiny share gets one slot.
	mix, _ = parseMix("overview=1,nav=1,tiers=1,write=0.00001")
	d = deck(mix, 1)
	counts = map[int]int{}
	for _, k := range d {
		counts[k]++
	}
	if len(d) != deckSize || counts[mix[3].Kind] != 1 || counts[mix[0].Kind] < 3332 || counts[mix[0].Kind] > 3334 {
		t.Errorf("deck of %d, counts %v", len(d), counts)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.rate != 2000 || o.duration.String() != "30s" || o.warmup.String() != "5s" || len(o.mix) != len(kinds) {
		t.Errorf("defaults: %+v", o)
	}
	for _, args := range [][]string{
		{"-rate", "0"}, {"-duration", "500ms"}, {"-warmup", "-1s"}, {"-workers", "0"}, {"-timeout", "0s"},
		{"-mix", "nope=1"}, {"-holders", "0"}, {"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
