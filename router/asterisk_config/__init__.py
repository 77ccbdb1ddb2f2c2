"""The Asterisk side of clinic-router: `clinic-router-*.conf` files rendered from the
settings and the rules (`render`), written into an Asterisk config folder (`files`), and
the `clinic-router asterisk-config` command (`cli`)."""
