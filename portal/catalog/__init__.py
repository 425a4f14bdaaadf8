"""The catalog blueprint."""
