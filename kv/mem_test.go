package kv

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestMemDeleteRange(t *testing.T) {
	tests := []struct {
		name       string
		start, end string
		want       string // remaining keys
	}{
		{"middle", "b", "d", "a aa d e"},
		{"prefix", "a", "b", "b c d e"},
		{"from the start", "", "c", "c d e"},
		{"to the end", "c", "\xff", "a aa b"},
		{"end is exclusive", "d", "e", "a aa b c e"},
		{"empty range", "bb", "bc", "a aa b c d e"},
		{"inverted range", "d", "b", "a aa b c d e"},
		{"everything", "", "\xff\xff", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			for _, k := range []string{"a", "aa", "b", "c", "d", "e"} {
				if err := m.Set([]byte(k), []byte("v"+k)); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.DeleteRange([]byte(tc.start), []byte(tc.end)); err != nil {
				t.Fatal(err)
			}
			var keys []string
			m.Dump(func(k, v []byte) {
				keys = append(keys, string(k))
				if string(v) != "v"+string(k) {
					t.Errorf("%s = %s", k, v)
				}
			})
			if got := strings.Join(keys, " "); got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
			if m.Len() != len(keys) {
				t.Fatalf("Len %d, %d keys", m.Len(), len(keys))
			}
			// Deleted keys are gone for Get and Scan, and can be written again.
			for _, k := range []string{"a", "aa", "b", "c", "d", "e"} {
				_, err := m.Get([]byte(k))
				if present := strings.Contains(" "+tc.want+" ", " "+k+" "); present != (err == nil) {
					t.Errorf("Get(%s): %v", k, err)
				}
			}
			n := 0
			if err := m.Scan(nil, nil, false, func(k, v []byte) bool { n++; return true }); err != nil || n != len(keys) {
				t.Fatalf("scan saw %d keys (%v), want %d", n, err, len(keys))
			}
			if err := m.Set([]byte("c"), []byte("vc")); err != nil {
				t.Fatal(err)
			}
			if v, err := m.Get([]byte("c")); err != nil || string(v) != "vc" {
				t.Fatal(fmt.Sprint("rewrite after delete: ", string(v), err))
			}
		})
	}
}

func TestMemClone(t *testing.T) {
	m := NewMem()
	_ = m.Set([]byte("a"), []byte("1"))
	_ = m.Set([]byte("b"), []byte("2"))
	c := m.Clone()
	_ = m.Set([]byte("a"), []byte("changed"))
	_ = m.Delete([]byte("b"))
	_ = c.Set([]byte("c"), []byte("3"))
	var got []string
	c.Dump(func(k, v []byte) { got = append(got, string(k)+"="+string(v)) })
	if want := []string{"a=1", "b=2", "c=3"}; !slices.Equal(got, want) {
		t.Errorf("clone after writes to both: %v, want %v", got, want)
	}
	if m.Len() != 1 {
		t.Errorf("original has %d keys after the clone's write, want 1", m.Len())
	}
}
