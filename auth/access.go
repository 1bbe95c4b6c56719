package auth

import (
	"errors"
	"fmt"
)

// The refusals of authentication and access. The server maps them to AUTH_REQUIRED,
// AUTH_INVALID and FORBIDDEN; push to its error frames.
var (
	// ErrAuthRequired: what was asked for needs a credential and none was presented.
	ErrAuthRequired = errors.New("authentication required")
	// ErrAuthInvalid: the credential is unknown, malformed or expired.
	ErrAuthInvalid = errors.New("invalid or expired token")
	// ErrForbidden: the credential's role is below what was asked for.
	ErrForbidden = errors.New("forbidden")
	// ErrSessionInvalid: a session token that is unknown, expired or revoked.
	ErrSessionInvalid = fmt.Errorf("%w: unknown, expired or revoked session; log in again", ErrAuthInvalid)
)

// Access is what an endpoint or a WebSocket channel needs: nothing (public), any identity
// (Authed), a role, or, for an account's own data, a role or that account's wallet session
// (Owner). Routes and channels are decided by the same Check.
type Access struct {
	Role Role
	// Authed: some identity (a token or a session) but no role.
	Authed bool
	// Owner: the account's own wallet session as well as the role.
	Owner bool
	// nobody: refused to everyone (Nobody).
	nobody bool
}

// The accesses of the API, by name.
var (
	Public        = Access{}
	Anyone        = Access{Authed: true}
	Viewer        = Access{Role: RoleViewer}
	Operator      = Access{Role: RoleOperator}
	Approver      = Access{Role: RoleApprover}
	Admin         = Access{Role: RoleAdmin}
	OwnerOrViewer = Access{Role: RoleViewer, Owner: true}
	// Nobody is the access of what has no rule: refused to every identity.
	Nobody = Access{nobody: true}
)

// IsPublic reports whether a needs nothing.
func (a Access) IsPublic() bool { return a.Role == RoleNone && !a.Authed && !a.nobody }

// Check says whether who, holding the role have (its own, or none where its credential does
// not count, as a member's outside the cluster endpoints), may use what needs a: nil,
// ErrAuthRequired (no identity) or an error wrapping ErrForbidden. account is the address an
// Owner access is about (nil when it is not one). It allocates only to refuse.
func (a Access) Check(who *Principal, have Role, account *[20]byte) error {
	if a.IsPublic() {
		return nil
	}
	if !who.Authenticated() {
		return ErrAuthRequired
	}
	if a.nobody {
		return fmt.Errorf("%w: no access rule", ErrForbidden)
	}
	if have.AtLeast(a.Role) {
		return nil // a.Role == RoleNone: any identity
	}
	if a.Owner && who.Session {
		if account != nil && *account == who.Wallet {
			return nil
		}
		return fmt.Errorf("%w: needs the %s role or a session of this account's wallet", ErrForbidden, a.Role)
	}
	return fmt.Errorf("%w: needs the %s role", ErrForbidden, a.Role)
}
