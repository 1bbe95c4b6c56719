package fundtest

import (
	"fmt"
	"math"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

const (
	hour = int64(3600)
	day  = 24 * hour
	week = 7 * day
)

var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)

// Amount parses a decimal amount with up to 18 decimals ("20041.938") into base units (or a
// 1e18-scaled price). It panics on a malformed literal: it is meant for constants in tests.
func Amount(s string) *uint256.Int {
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" || len(fp) > 18 {
		panic(fmt.Sprintf("fundtest: bad amount %q", s))
	}
	digits := strings.TrimLeft(ip+fp+strings.Repeat("0", 18-len(fp)), "0")
	if digits == "" {
		digits = "0"
	}
	v, err := uint256.FromDecimal(digits)
	if err != nil {
		panic(fmt.Sprintf("fundtest: bad amount %q: %v", s, err))
	}
	return v
}

// E18 returns n whole tokens (n × 1e18 base units).
func E18(n uint64) *uint256.Int { return new(uint256.Int).Mul(uint256.NewInt(n), oneE18) }

// Addr derives a stable address from a label (the last 20 bytes of its keccak256), for named
// test actors such as Addr("alice").
func Addr(label string) common.Address {
	return common.BytesToAddress(crypto.Keccak256([]byte(label))[12:])
}

// mulDiv returns a × b / d (floor); the product must fit 256 bits, which amounts of 18
// decimals always do here.
func mulDiv(a, b, d *uint256.Int) *uint256.Int {
	v := new(uint256.Int).Mul(a, b)
	return v.Div(v, d)
}

// fromFloat rounds x to decimals places and scales it to 18 decimals.
func fromFloat(x float64, decimals int) *uint256.Int {
	v := uint256.NewInt(uint64(math.Round(x * math.Pow10(decimals))))
	return v.Mul(v, new(uint256.Int).Exp(uint256.NewInt(10), uint256.NewInt(uint64(18-decimals))))
}

// bps returns v × n / 10000 (n in basis points).
func bps(v *uint256.Int, n uint64) *uint256.Int {
	return mulDiv(v, uint256.NewInt(n), uint256.NewInt(10_000))
}
