package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/holiman/uint256"

	"paimon/fund"
)

// Approvals is [approvals]: the rules approval tickets open with (OPERATIONS.md, "Approval
// tickets") and how often the leader advances the state machine's time. The rules are not
// read by the state machine from here: the leader replicates them (fund.CmdApprovalRules)
// whenever they differ from the replicated ones, so every node opens the same tickets; set the
// same on every node, or the rules change with the leader.
type Approvals struct {
	// DefaultRequired approvals a ticket needs; LargeRequired above LargeAmount (base units,
	// a decimal string).
	DefaultRequired int    `toml:"default_required"`
	LargeAmount     string `toml:"large_amount"`
	LargeRequired   int    `toml:"large_required"`
	// The SLA per redemption channel, from the ticket's opening: warn, escalate, deadline
	// (EXPIRED). Whole seconds.
	StandardWarn      time.Duration `toml:"standard_warn"`
	StandardEscalate  time.Duration `toml:"standard_escalate"`
	StandardDeadline  time.Duration `toml:"standard_deadline"`
	EmergencyWarn     time.Duration `toml:"emergency_warn"`
	EmergencyEscalate time.Duration `toml:"emergency_escalate"`
	EmergencyDeadline time.Duration `toml:"emergency_deadline"`
	ScheduledWarn     time.Duration `toml:"scheduled_warn"`
	ScheduledEscalate time.Duration `toml:"scheduled_escalate"`
	ScheduledDeadline time.Duration `toml:"scheduled_deadline"`
	// TickInterval is how often the leader checks whether an SLA time passed and, if one did,
	// proposes a tick (fund.CmdTick).
	TickInterval time.Duration `toml:"tick_interval"`
	// RequireSignature refuses an approve or reject by a wallet session without an EIP-712
	// signature of {ticketId, decision, reason, chainId} by its wallet, and one by a static API
	// token unless ExemptStaticTokens. Checked by the node that serves the decision.
	RequireSignature   bool `toml:"require_signature"`
	ExemptStaticTokens bool `toml:"exempt_static_tokens"`
}

// DefaultApprovals are fund.DefaultApprovalRules with a one-second tick.
func DefaultApprovals() Approvals {
	r := fund.DefaultApprovalRules()
	sec := func(s int64) time.Duration { return time.Duration(s) * time.Second }
	return Approvals{
		DefaultRequired: int(r.DefaultRequired), LargeAmount: r.LargeAmount.Dec(), LargeRequired: int(r.LargeRequired),
		StandardWarn: sec(r.SLA[0].Warn), StandardEscalate: sec(r.SLA[0].Escalate), StandardDeadline: sec(r.SLA[0].Deadline),
		EmergencyWarn: sec(r.SLA[1].Warn), EmergencyEscalate: sec(r.SLA[1].Escalate), EmergencyDeadline: sec(r.SLA[1].Deadline),
		ScheduledWarn: sec(r.SLA[2].Warn), ScheduledEscalate: sec(r.SLA[2].Escalate), ScheduledDeadline: sec(r.SLA[2].Deadline),
		TickInterval: time.Second,
	}
}

// Rules returns the replicated form of the rules; err names the offending key.
func (a *Approvals) Rules() (fund.ApprovalRules, error) {
	var r fund.ApprovalRules
	for _, q := range []struct {
		key string
		v   int
		dst *uint8
	}{{"approvals.default_required", a.DefaultRequired, &r.DefaultRequired}, {"approvals.large_required", a.LargeRequired, &r.LargeRequired}} {
		if q.v < 1 || q.v > fund.MaxRequiredApprovals {
			return r, fmt.Errorf("%s: %d must be 1 to %d", q.key, q.v, fund.MaxRequiredApprovals)
		}
		*q.dst = uint8(q.v)
	}
	amt, err := uint256.FromDecimal(a.LargeAmount)
	if err != nil {
		return r, fmt.Errorf("approvals.large_amount: %q is not a base-unit amount (a decimal integer string)", a.LargeAmount)
	}
	r.LargeAmount = *amt
	for i, ch := range [3]struct {
		name             string
		warn, esc, dline time.Duration
	}{
		{"standard", a.StandardWarn, a.StandardEscalate, a.StandardDeadline},
		{"emergency", a.EmergencyWarn, a.EmergencyEscalate, a.EmergencyDeadline},
		{"scheduled", a.ScheduledWarn, a.ScheduledEscalate, a.ScheduledDeadline},
	} {
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"warn", ch.warn}, {"escalate", ch.esc}, {"deadline", ch.dline}} {
			if d.v <= 0 || d.v%time.Second != 0 || d.v > 366*24*time.Hour {
				return r, fmt.Errorf("approvals.%s_%s: %s must be whole seconds, above 0 and at most 366 days", ch.name, d.key, d.v)
			}
		}
		if ch.warn > ch.esc || ch.esc > ch.dline {
			return r, fmt.Errorf("approvals.%s_warn: %s, %s_escalate %s and %s_deadline %s must be in that order", ch.name, ch.warn, ch.name, ch.esc, ch.name, ch.dline)
		}
		r.SLA[i] = fund.SLA{Warn: int64(ch.warn / time.Second), Escalate: int64(ch.esc / time.Second), Deadline: int64(ch.dline / time.Second)}
	}
	return r, nil
}

// Validate checks [approvals], naming the offending key (Config.Validate wraps ErrInvalid).
func (a *Approvals) Validate() error {
	var errs []error
	if _, err := a.Rules(); err != nil {
		errs = append(errs, err)
	}
	if a.TickInterval < 10*time.Millisecond || a.TickInterval > time.Minute {
		errs = append(errs, fmt.Errorf("approvals.tick_interval: %s must be between 10ms and 1m", a.TickInterval))
	}
	return errors.Join(errs...)
}
