package server

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"paimon/auth"
	"paimon/fund"
)

// The second factor of a decision by a wallet session (issue 12): the approve or reject body may
// carry an EIP-712 signature of {ticketId, decision, reason, chainId} by the session's address.
// A signature, when present, is always checked; with approvals.require_signature a decision by a
// wallet session without one is refused, and one by a static API token too unless
// approvals.exempt_static_tokens. The check is the serving node's, before anything is proposed
// (as a login's signature is): the log carries the decision, not the signature.

// DecisionDomainName and DecisionDomainVersion name the EIP-712 domain of decisions; its chainId
// is the fund's chain (ingest.chain_id).
const (
	DecisionDomainName    = "Paimon Edge"
	DecisionDomainVersion = "1"
)

// DecisionTypedData is the EIP-712 typed data a wallet signs to decide a ticket: primary type
// ApprovalDecision(string ticketId, string decision, string reason, uint256 chainId), domain
// {name, version, chainId}; decision is APPROVE or REJECT.
func DecisionTypedData(ticketID string, d fund.Decision, reason string, chainID uint64) apitypes.TypedData {
	chain := math.HexOrDecimal256(*new(big.Int).SetUint64(chainID))
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"}, {Name: "chainId", Type: "uint256"}},
			"ApprovalDecision": {{Name: "ticketId", Type: "string"}, {Name: "decision", Type: "string"},
				{Name: "reason", Type: "string"}, {Name: "chainId", Type: "uint256"}},
		},
		PrimaryType: "ApprovalDecision",
		Domain:      apitypes.TypedDataDomain{Name: DecisionDomainName, Version: DecisionDomainVersion, ChainId: &chain},
		Message: apitypes.TypedDataMessage{"ticketId": ticketID, "decision": d.String(), "reason": reason,
			"chainId": new(big.Int).SetUint64(chainID)},
	}
}

// DecisionHash is the EIP-712 digest of a decision (what the wallet signs).
func DecisionHash(ticketID string, d fund.Decision, reason string, chainID uint64) ([]byte, error) {
	h, _, err := apitypes.TypedDataAndHash(DecisionTypedData(ticketID, d, reason, chainID))
	return h, err
}

// decisionSigner recovers the address that signed a decision: sig is 0x + 65 bytes (r, s, v
// with v 27/28 or 0/1). A malformed signature is a VALIDATION_ERROR.
func decisionSigner(sig, ticketID string, d fund.Decision, reason string, chainID uint64) (common.Address, error) {
	b, err := hexutil.Decode(strings.TrimSpace(sig))
	if err != nil || len(b) != crypto.SignatureLength {
		return common.Address{}, validation("signature must be 0x followed by 65 bytes (130 hex digits)", map[string]any{"param": "signature"})
	}
	if b[64] >= 27 {
		b[64] -= 27
	}
	h, err := DecisionHash(ticketID, d, reason, chainID)
	if err != nil {
		return common.Address{}, fmt.Errorf("decision typed data: %w", err)
	}
	pub, err := crypto.SigToPub(h, b)
	if err != nil {
		return common.Address{}, validation("signature does not recover an address", map[string]any{"param": "signature"})
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// checkDecisionSignature applies the second factor to an approve or reject by who.
func (s *Server) checkDecisionSignature(who *auth.Principal, sig, ticketID string, d fund.Decision, reason string) error {
	if sig == "" {
		switch {
		case !s.cfg.ApprovalSignature:
			return nil
		case who.Session:
			return validation("a decision needs an EIP-712 signature of {ticketId, decision, reason, chainId} by the session's wallet (approvals.require_signature)",
				map[string]any{"param": "signature"})
		case s.cfg.ApprovalTokensExempt:
			return nil
		}
		return fmt.Errorf("%w: decisions need a wallet's signature (approvals.require_signature); static API tokens are not exempt", auth.ErrForbidden)
	}
	if !who.Session {
		return validation("a signature proves a wallet session's decision; this request has no session", map[string]any{"param": "signature"})
	}
	signer, err := decisionSigner(sig, ticketID, d, reason, s.cfg.ChainID)
	if err != nil {
		return err
	}
	if signer != common.Address(who.Wallet) {
		return fmt.Errorf("%w: the signature is by %s, not by the session's wallet", auth.ErrForbidden, strings.ToLower(signer.Hex()))
	}
	return nil
}
