package auth

// Role is an authorization level. The numbers are this process's own (roles are stored and
// replicated by name), but they only ever grow: a new role is added at the end and placed in
// the order by rank, never by renumbering.
type Role uint8

// The roles, from least to most by rank: viewer < operator < approver < admin.
const (
	RoleNone     Role = 0
	RoleViewer   Role = 1
	RoleOperator Role = 2
	RoleAdmin    Role = 3
	RoleApprover Role = 4 // between operator and admin (OPERATIONS.md)
)

// rank orders the roles; a higher rank includes every lower one.
var rank = [...]uint8{RoleNone: 0, RoleViewer: 1, RoleOperator: 2, RoleApprover: 3, RoleAdmin: 4}

var roleNames = [...]string{RoleNone: "none", RoleViewer: "viewer", RoleOperator: "operator", RoleApprover: "approver", RoleAdmin: "admin"}

// RoleNames lists the roles that can be granted, from least to most.
const RoleNames = "viewer, operator, approver or admin"

// String is the role's name as the API and the configuration spell it.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "none"
}

// AtLeast reports whether r includes o.
func (r Role) AtLeast(o Role) bool { return r.rank() >= o.rank() }

func (r Role) rank() uint8 {
	if int(r) < len(rank) {
		return rank[r]
	}
	return 0
}

// Higher returns the higher of two roles.
func Higher(a, b Role) Role {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// ParseRole parses a role's name; "" and "none" are not roles.
func ParseRole(s string) (Role, bool) {
	switch s {
	case "viewer":
		return RoleViewer, true
	case "operator":
		return RoleOperator, true
	case "approver":
		return RoleApprover, true
	case "admin":
		return RoleAdmin, true
	}
	return RoleNone, false
}
