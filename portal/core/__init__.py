"""Pieces every audience shares: access control, errors, security headers, health."""
