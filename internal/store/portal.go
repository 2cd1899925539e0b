package store

// Portal stores accounts, groups and role assignments for the SSO portal API.
type Portal interface{}
