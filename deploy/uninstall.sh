#!/bin/sh
# Remove clinic-router, as root. Keeps the settings (/etc/clinic-router) and the
# database (/var/lib/clinic-router) unless --purge is given. The Asterisk side stays:
# remove the `#include clinic-router-*.conf` lines and files from /etc/asterisk by hand
# (calls then no longer reach the router's dialplan).
#   deploy/uninstall.sh [--purge]
set -eu
DESTDIR=${DESTDIR:-}
PREFIX=/opt/clinic-router
ETC=/etc/clinic-router
VAR=/var/lib/clinic-router
UNIT=/etc/systemd/system/clinic-router.service
USER_NAME=clinic-router
purge=no
[ "${1:-}" = "--purge" ] && purge=yes

if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now clinic-router.service 2>/dev/null || true
fi
rm -f "$DESTDIR$UNIT"
[ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ] && systemctl daemon-reload
rm -rf "$DESTDIR$PREFIX"
if [ -z "$DESTDIR" ] && [ "$(readlink /usr/local/bin/clinic-router 2>/dev/null)" = "$PREFIX/bin/clinic-router" ]; then
    rm -f /usr/local/bin/clinic-router
fi
if [ "$purge" = yes ]; then
    rm -rf "$DESTDIR$ETC" "$DESTDIR$VAR"
    [ -z "$DESTDIR" ] && id "$USER_NAME" >/dev/null 2>&1 && userdel "$USER_NAME"
    echo "uninstall: removed, settings and database included"
else
    echo "uninstall: removed; kept $ETC (settings, secrets) and $VAR (database): --purge removes them"
fi
