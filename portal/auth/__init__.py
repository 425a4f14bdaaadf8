"""The auth blueprint."""
