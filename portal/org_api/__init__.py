"""The organization API (``/api/org/v1``): read-only JSON about one organization, for the
organization's own systems, authenticated by a token its admins create (docs/org-api.md)."""
