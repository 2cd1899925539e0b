package store

// Security stores rate-limit counters, lock-outs, MFA enrolments and the audit trail.
type Security interface{}
