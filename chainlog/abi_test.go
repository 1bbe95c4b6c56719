package chainlog

import (
	"bytes"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

func TestBuiltinABI(t *testing.T) {
	known := map[string]string{
		"Transfer": "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
		"Deposit":  "0xdcbc1c05240f31ff3ad067ef1ee35ce4997762752e3a095284754544f4c709d7",
		"Withdraw": "0xfbde797d201c681b91056529119e0b02407c7bb96a4a2c75c01fc9667232c8db",
	}
	for k := KindVault; k <= KindOracle; k++ {
		t.Run(k.String(), func(t *testing.T) {
			parsed, err := abi.JSON(bytes.NewReader(BuiltinABI(k)))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range specsByID[1:] {
				if s.Kind != k {
					continue
				}
				n++
				ev, ok := parsed.Events[s.Name]
				if !ok {
					t.Fatalf("%s missing", s.Name)
				}
				if ev.ID != s.topic || ev.Sig != s.sig {
					t.Errorf("%s: id %s sig %s, want %s %s", s.Name, ev.ID.Hex(), ev.Sig, s.topic.Hex(), s.sig)
				}
				if want, ok := known[s.Name]; ok && s.topic.Hex() != want {
					t.Errorf("%s topic %s, want %s", s.Name, s.topic.Hex(), want)
				}
			}
			if len(parsed.Events) != n {
				t.Errorf("abi has %d events, want %d", len(parsed.Events), n)
			}
		})
	}
	if BuiltinABI(0) != nil || BuiltinABI(9) != nil {
		t.Error("BuiltinABI of an unknown kind must be nil")
	}
}
