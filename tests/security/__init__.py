"""Cross-cutting security tests: headers, one authorization matrix over every route, fuzzing, open
redirects, CSRF, code brute force, CSV formula injection and hostile logos."""
