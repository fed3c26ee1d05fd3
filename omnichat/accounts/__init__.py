"""Staff accounts: users, passwords, sign-in, sessions and tokens, throttles and the audit log."""
