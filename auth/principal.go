package auth

import (
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Principal is who a request or a WebSocket connection comes from. The zero Principal is
// anonymous.
type Principal struct {
	// Name names a static token ("dash"), a member node ("node:n2") or the cluster secret.
	Name string
	Role Role
	// Cluster marks a member node (a signed request without a user token) or an operator
	// presenting the cluster secret: such a principal may use the cluster endpoints only.
	Cluster bool
	// Via is the member that forwarded the request, when one did.
	Via string
	// Key identifies the credential: the SHA-256 of the token (static or session); zero for
	// anonymous requests and member calls. Rate limits count by it; WebSocket connections
	// recheck their credential by it.
	Key [32]byte
	// Session marks a wallet session: Wallet is its address, Expires its expiry (unix ns).
	Session bool
	Wallet  [20]byte
	Expires int64
}

// Authenticated says whether the principal presented a valid credential of any kind.
func (p *Principal) Authenticated() bool { return p.Name != "" || p.Session }

// Label names the principal in the audit log and in logs: a session by its wallet.
func (p *Principal) Label() string {
	if p.Session {
		return WalletName(common.Address(p.Wallet))
	}
	return p.Name
}

// WalletName is how the audit log names a wallet: "wallet:0x…" in lower case.
func WalletName(a common.Address) string { return "wallet:" + strings.ToLower(a.Hex()) }
