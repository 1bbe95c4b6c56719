package auth

import (
	"errors"
	"testing"
)

// TestRolesRankNotNumber: approver ranks between operator and admin although its number is
// the highest (roles are added, never renumbered); names round-trip.
func TestRolesRankNotNumber(t *testing.T) {
	order := []Role{RoleNone, RoleViewer, RoleOperator, RoleApprover, RoleAdmin}
	for i, a := range order {
		for j, b := range order {
			if got := a.AtLeast(b); got != (i >= j) {
				t.Errorf("%s.AtLeast(%s) = %v", a, b, got)
			}
			want := a
			if j > i {
				want = b
			}
			if got := Higher(a, b); got != want {
				t.Errorf("Higher(%s, %s) = %s", a, b, got)
			}
		}
		if a == RoleNone {
			continue
		}
		if r, ok := ParseRole(a.String()); !ok || r != a {
			t.Errorf("ParseRole(%q) = %v %v", a.String(), r, ok)
		}
	}
	for _, bad := range []string{"", "none", "Admin", "root"} {
		if _, ok := ParseRole(bad); ok {
			t.Errorf("ParseRole(%q) accepted", bad)
		}
	}
	if RoleViewer != 1 || RoleOperator != 2 || RoleAdmin != 3 || RoleApprover != 4 {
		t.Error("role numbers changed: add roles, never renumber")
	}
}

// TestAccessCheck: every access against every kind of principal.
func TestAccessCheck(t *testing.T) {
	own, other := [20]byte{1}, [20]byte{2}
	anon := Principal{}
	session := Principal{Session: true, Wallet: own}
	token := func(r Role) Principal { return Principal{Name: "t", Role: r} }
	for _, tc := range []struct {
		name    string
		a       Access
		who     Principal
		account *[20]byte
		want    error
	}{
		{"public, anonymous", Public, anon, nil, nil},
		{"anyone, anonymous", Anyone, anon, nil, ErrAuthRequired},
		{"anyone, a session", Anyone, session, nil, nil},
		{"viewer, a session without a role", Viewer, session, nil, ErrForbidden},
		{"operator, an approver", Operator, token(RoleApprover), nil, nil},
		{"approver, an operator", Approver, token(RoleOperator), nil, ErrForbidden},
		{"approver, an approver", Approver, token(RoleApprover), nil, nil},
		{"approver, an admin", Approver, token(RoleAdmin), nil, nil},
		{"admin, an approver", Admin, token(RoleApprover), nil, ErrForbidden},
		{"owner, its own account", OwnerOrViewer, session, &own, nil},
		{"owner, another account", OwnerOrViewer, session, &other, ErrForbidden},
		{"owner, a viewer", OwnerOrViewer, token(RoleViewer), &other, nil},
		{"nobody, an admin", Nobody, token(RoleAdmin), nil, ErrForbidden},
		{"nobody, anonymous", Nobody, anon, nil, ErrAuthRequired},
	} {
		err := tc.a.Check(&tc.who, tc.who.Role, tc.account)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
