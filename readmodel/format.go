package readmodel

import (
	"math/big"
	"strings"
	"time"

	"github.com/holiman/uint256"
)

// fmtUnix renders unix seconds as RFC 3339 UTC.
func fmtUnix(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

// fmtUnixNano renders unix nanoseconds as RFC 3339 UTC (with fractional seconds if any).
func fmtUnixNano(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339Nano) }

// decSigned renders an amount that may have wrapped below zero (ingest started mid-history):
// a value with the top bit set is shown as a negative decimal, e.g. "-5".
func decSigned(u *uint256.Int) string {
	if u.Sign() < 0 {
		return "-" + new(uint256.Int).Neg(u).Dec()
	}
	return u.Dec()
}

// navString renders a 1e18-scaled share price as a decimal with trailing zeros trimmed.
func navString(p *uint256.Int) string {
	s := p.Dec()
	if len(s) <= 18 {
		s = strings.Repeat("0", 19-len(s)) + s
	}
	ip, fp := s[:len(s)-18], strings.TrimRight(s[len(s)-18:], "0")
	if fp == "" {
		return ip
	}
	return ip + "." + fp
}

var (
	bigTenThousand = big.NewInt(10_000)
	bigMillion     = big.NewInt(1_000_000)
)

// percentChange renders (latest-ref)/ref in percent with at most 4 decimals (rounded half
// away from zero, trailing zeros trimmed); nil when ref is zero.
func percentChange(latest, ref *uint256.Int) *string {
	if ref.IsZero() {
		return nil
	}
	l, r := latest.ToBig(), ref.ToBig()
	num := new(big.Int).Sub(l, r)
	num.Mul(num, bigMillion) // percent × 1e4
	neg := num.Sign() < 0
	num.Abs(num)
	q, rem := new(big.Int).QuoRem(num, r, new(big.Int))
	if rem.Lsh(rem, 1).Cmp(r) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	s := fmtScaled(q, 4)
	if neg && s != "0" {
		s = "-" + s
	}
	return &s
}

// fmtScaled renders q / 10^dec with trailing zeros trimmed.
func fmtScaled(q *big.Int, dec int) string {
	s := q.String()
	if len(s) <= dec {
		s = strings.Repeat("0", dec+1-len(s)) + s
	}
	ip, fp := s[:len(s)-dec], strings.TrimRight(s[len(s)-dec:], "0")
	if fp == "" {
		return ip
	}
	return ip + "." + fp
}
