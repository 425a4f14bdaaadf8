"""One client module per external API (Keycloak, Open edX, payments): explicit timeouts, one error
type each, structured logs of failing requests. Views never call HTTP directly."""
