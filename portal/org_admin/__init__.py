"""The org_admin blueprint."""
