"""Small, pure cryptographic helpers shared by the audit log, extracts and releases."""
