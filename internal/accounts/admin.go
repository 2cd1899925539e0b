package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
)

// Administration, as the admin commands do it. Errors name what was wrong;
// a missing account, group or user wraps store.ErrNotFound and a duplicate
// store.ErrAlreadyExists.

// ---- accounts ----

// AddAccount records an AWS account.
func (s *Service) AddAccount(ctx context.Context, id, name, email string) (store.Account, error) {
	if err := errors.Join(ValidateAccountID(id), validateAccountName(name), validateEmail(email)); err != nil {
		return store.Account{}, fmt.Errorf("accounts: add account: %w", err)
	}
	a := store.Account{ID: id, Name: name, Email: email, CreatedAt: s.now()}
	if err := s.st.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.Account{}, fmt.Errorf("accounts: account %s already exists: %w", id, err)
		}
		return store.Account{}, fmt.Errorf("accounts: add account: %w", err)
	}
	s.log.InfoContext(ctx, "account added", "account_id", id, "name", name)
	return a, nil
}

// Accounts returns every account, ordered by id.
func (s *Service) Accounts(ctx context.Context) ([]store.Account, error) {
	as, err := s.st.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("accounts: list accounts: %w", err)
	}
	return as, nil
}

// RemoveAccount deletes an account with its assignments and static
// credentials.
func (s *Service) RemoveAccount(ctx context.Context, id string) error {
	if err := s.st.DeleteAccount(ctx, id); err != nil {
		return notFound(err, "account %s", id)
	}
	s.log.InfoContext(ctx, "account removed", "account_id", id)
	return nil
}

// SetStaticCredentials stores fixed credentials for the static source to
// hand out for a role of an account (roleName "" for every role), sealed
// under the master key. For emulators and tests only.
func (s *Service) SetStaticCredentials(ctx context.Context, accountID, roleName, accessKeyID, secretAccessKey, sessionToken string) error {
	if roleName != "" {
		if err := ValidateRoleName(roleName); err != nil {
			return fmt.Errorf("accounts: set credentials: %w", err)
		}
	}
	if accessKeyID == "" || secretAccessKey == "" {
		return errors.New("accounts: set credentials: an access key id and a secret access key are required")
	}
	c := credentials.SealStatic(s.keys, accountID, roleName, accessKeyID, secretAccessKey, sessionToken, s.now())
	if err := s.st.PutStaticCredential(ctx, c); err != nil {
		return notFound(err, "account %s", accountID)
	}
	s.log.InfoContext(ctx, "static credentials stored", "account_id", accountID, "role", roleName, "access_key_id", accessKeyID)
	return nil
}

// ClearStaticCredentials removes the fixed credentials stored for exactly
// that role of the account ("" for the account-wide ones).
func (s *Service) ClearStaticCredentials(ctx context.Context, accountID, roleName string) error {
	if err := s.st.DeleteStaticCredential(ctx, accountID, roleName); err != nil {
		return notFound(err, "stored credentials for account %s role %q", accountID, roleName)
	}
	return nil
}

// ---- groups ----

// AddGroup creates a group.
func (s *Service) AddGroup(ctx context.Context, name string) (store.Group, error) {
	if err := ValidateGroupName(name); err != nil {
		return store.Group{}, fmt.Errorf("accounts: add group: %w", err)
	}
	g := store.Group{ID: secret.ID(12), Name: name, CreatedAt: s.now()}
	if err := s.st.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.Group{}, fmt.Errorf("accounts: group %q already exists: %w", name, err)
		}
		return store.Group{}, fmt.Errorf("accounts: add group: %w", err)
	}
	s.log.InfoContext(ctx, "group added", "group_id", g.ID, "group", name)
	return g, nil
}

// Groups returns every group, ordered by name.
func (s *Service) Groups(ctx context.Context) ([]store.Group, error) {
	gs, err := s.st.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("accounts: list groups: %w", err)
	}
	return gs, nil
}

// RemoveGroup deletes a group with its memberships and assignments.
func (s *Service) RemoveGroup(ctx context.Context, name string) error {
	g, err := s.group(ctx, name)
	if err != nil {
		return err
	}
	if err := s.st.DeleteGroup(ctx, g.ID); err != nil {
		return notFound(err, "group %q", name)
	}
	s.log.InfoContext(ctx, "group removed", "group_id", g.ID, "group", name)
	return nil
}

// AddMember adds a user to a group.
func (s *Service) AddMember(ctx context.Context, groupName, userName string) error {
	g, u, err := s.groupAndUser(ctx, groupName, userName)
	if err != nil {
		return err
	}
	if err := s.st.AddGroupMember(ctx, g.ID, u.ID, s.now()); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("accounts: %s is already a member of %s: %w", userName, groupName, err)
		}
		return notFound(err, "group %q", groupName)
	}
	s.log.InfoContext(ctx, "group member added", "group", groupName, "user", userName)
	return nil
}

// RemoveMember removes a user from a group.
func (s *Service) RemoveMember(ctx context.Context, groupName, userName string) error {
	g, u, err := s.groupAndUser(ctx, groupName, userName)
	if err != nil {
		return err
	}
	if err := s.st.RemoveGroupMember(ctx, g.ID, u.ID); err != nil {
		return notFound(err, "member %s of group %s", userName, groupName)
	}
	s.log.InfoContext(ctx, "group member removed", "group", groupName, "user", userName)
	return nil
}

// Member is a member of a group. Name is empty for a user who was deleted
// (the membership stays, granting nothing, until removed).
type Member struct {
	UserID string
	Name   string
}

// Members returns a group's members.
func (s *Service) Members(ctx context.Context, groupName string) ([]Member, error) {
	g, err := s.group(ctx, groupName)
	if err != nil {
		return nil, err
	}
	ids, err := s.st.ListGroupMembers(ctx, g.ID)
	if err != nil {
		return nil, fmt.Errorf("accounts: list members: %w", err)
	}
	out := make([]Member, 0, len(ids))
	for _, id := range ids {
		name, err := s.userName(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, Member{UserID: id, Name: name})
	}
	return out, nil
}

// ---- assignments ----

// Principal names whom a role is assigned to: a user or a group, by name.
type Principal struct {
	Type store.PrincipalType
	Name string
}

func (p Principal) String() string { return string(p.Type) + " " + p.Name }

// Assign gives a principal a role in an account, for credentials lasting
// d (zero: one hour) brought within what STS allows (15 minutes to 12
// hours): compare the returned Duration with d to tell whether it was.
func (s *Service) Assign(ctx context.Context, p Principal, accountID, roleName string, d time.Duration) (store.Assignment, error) {
	if err := errors.Join(ValidateAccountID(accountID), ValidateRoleName(roleName)); err != nil {
		return store.Assignment{}, fmt.Errorf("accounts: assign: %w", err)
	}
	if d < 0 {
		return store.Assignment{}, errors.New("accounts: assign: the duration must be positive")
	}
	id, err := s.principalID(ctx, p)
	if err != nil {
		return store.Assignment{}, err
	}
	d, _ = credentials.ClampDuration(d)
	a := store.Assignment{AccountID: accountID, RoleName: roleName, PrincipalType: p.Type, PrincipalID: id, Duration: d, CreatedAt: s.now()}
	if err := s.st.CreateAssignment(ctx, a); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.Assignment{}, fmt.Errorf("accounts: %s already has role %s in account %s: %w", p, roleName, accountID, err)
		}
		return store.Assignment{}, notFound(err, "account %s", accountID)
	}
	s.log.InfoContext(ctx, "role assigned", "principal", p.String(), "account_id", accountID, "role", roleName, "duration", d)
	return a, nil
}

// Unassign takes a role in an account away from a principal.
func (s *Service) Unassign(ctx context.Context, p Principal, accountID, roleName string) error {
	id, err := s.principalID(ctx, p)
	if err != nil {
		return err
	}
	a := store.Assignment{AccountID: accountID, RoleName: roleName, PrincipalType: p.Type, PrincipalID: id}
	if err := s.st.DeleteAssignment(ctx, a); err != nil {
		return notFound(err, "assignment of role %s in account %s to %s", roleName, accountID, p)
	}
	s.log.InfoContext(ctx, "role unassigned", "principal", p.String(), "account_id", accountID, "role", roleName)
	return nil
}

// AssignmentView is an assignment with its principal's name: empty for a
// deleted user, whose assignments stay, granting nothing, until removed.
type AssignmentView struct {
	store.Assignment
	PrincipalName string
}

// Assignments lists the assignments of an account ("" for all), of a
// principal (nil for all), in account, role and principal order.
func (s *Service) Assignments(ctx context.Context, accountID string, p *Principal) ([]AssignmentView, error) {
	f := store.AssignmentFilter{AccountID: accountID}
	if p != nil {
		id, err := s.principalID(ctx, *p)
		if err != nil {
			return nil, err
		}
		f.PrincipalType, f.PrincipalID = p.Type, id
	}
	as, err := s.st.ListAssignments(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("accounts: list assignments: %w", err)
	}
	out := make([]AssignmentView, 0, len(as))
	names := map[string]string{}
	for _, a := range as {
		key := string(a.PrincipalType) + "/" + a.PrincipalID
		name, ok := names[key]
		if !ok {
			if name, err = s.principalName(ctx, a.PrincipalType, a.PrincipalID); err != nil {
				return nil, err
			}
			names[key] = name
		}
		out = append(out, AssignmentView{Assignment: a, PrincipalName: name})
	}
	return out, nil
}

// ---- lookups ----

func (s *Service) group(ctx context.Context, name string) (store.Group, error) {
	g, err := s.st.GetGroupByName(ctx, name)
	if err != nil {
		return store.Group{}, notFound(err, "group %q", name)
	}
	return g, nil
}

func (s *Service) user(ctx context.Context, name string) (store.User, error) {
	u, err := s.st.GetUserByName(ctx, name)
	if err != nil {
		return store.User{}, notFound(err, "user %q", name)
	}
	return u, nil
}

func (s *Service) groupAndUser(ctx context.Context, groupName, userName string) (store.Group, store.User, error) {
	g, err := s.group(ctx, groupName)
	if err != nil {
		return store.Group{}, store.User{}, err
	}
	u, err := s.user(ctx, userName)
	if err != nil {
		return store.Group{}, store.User{}, err
	}
	return g, u, nil
}

func (s *Service) principalID(ctx context.Context, p Principal) (string, error) {
	switch p.Type {
	case store.PrincipalUser:
		u, err := s.user(ctx, p.Name)
		return u.ID, err
	case store.PrincipalGroup:
		g, err := s.group(ctx, p.Name)
		return g.ID, err
	}
	return "", fmt.Errorf("accounts: principal type %q is neither user nor group", p.Type)
}

func (s *Service) principalName(ctx context.Context, t store.PrincipalType, id string) (string, error) {
	if t == store.PrincipalUser {
		return s.userName(ctx, id)
	}
	g, err := s.st.GetGroup(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("accounts: get group %s: %w", id, err)
	}
	return g.Name, nil
}

// userName is the name of a user, or "" for one that was deleted.
func (s *Service) userName(ctx context.Context, id string) (string, error) {
	u, err := s.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("accounts: get user %s: %w", id, err)
	}
	return u.Name, nil
}

// notFound words a store error for an administrator: a missing thing is
// named (and still wraps store.ErrNotFound).
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("accounts: no %s: %w", fmt.Sprintf(format, args...), err)
	}
	return fmt.Errorf("accounts: %w", err)
}
