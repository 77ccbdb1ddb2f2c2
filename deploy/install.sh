#!/bin/sh
# Install or upgrade clinic-router on Debian 12/13 or Ubuntu 24.04, as root:
#
#   deploy/install.sh            from the source folder (a git checkout or release tarball)
#
# Idempotent: run it again to upgrade. It never overwrites what an admin edited
# (/etc/clinic-router/*.yaml, the secrets file) and never touches the database, which the
# router migrates itself when it starts. Layout:
#   /opt/clinic-router/              virtualenv from requirements.txt (exact, hash-checked)
#   /etc/clinic-router/router.yaml   settings    rules.yaml   routing rules
#   /etc/clinic-router/clinic-router.env   secrets (ARI password, API token), root:clinic-router 0640
#   /var/lib/clinic-router/          the SQLite database, owned by the clinic-router user
#   /etc/systemd/system/clinic-router.service   logs go to journalctl -u clinic-router
#
# DESTDIR=/some/root stages everything under that folder instead (no user, no systemd,
# no packages): for packaging and for the install test.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=/opt/clinic-router
ETC=/etc/clinic-router
VAR=/var/lib/clinic-router
UNIT=/etc/systemd/system/clinic-router.service
USER_NAME=clinic-router
PYTHON=${PYTHON:-python3}

say() { printf 'install: %s\n' "$*"; }
staged() { [ -n "$DESTDIR" ]; }

if ! staged && [ "$(id -u)" != 0 ]; then
    echo "install: run as root (or set DESTDIR to stage into a folder)" >&2
    exit 2
fi

# Python 3.11+ with venv (Debian 12 refuses a system-wide pip: PEP 668)
if ! "$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    if staged || ! command -v apt-get >/dev/null; then
        echo "install: needs Python 3.11+ with the venv module ($PYTHON)" >&2
        exit 2
    fi
    say "installing python3-venv"
    # package lists older than the mirror (a fresh machine) 404: refresh them once
    apt-get install -y -q python3 python3-venv >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q python3 python3-venv >/dev/null; }
fi

# The service user: owns the database folder, reads the config, nothing else
if staged; then
    say "staged install into $DESTDIR: no user, no systemd"
elif ! id "$USER_NAME" >/dev/null 2>&1; then
    say "creating system user $USER_NAME"
    useradd --system --home-dir "$VAR" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi

# The virtualenv, from the lock file: exactly the versions that were tested
venv="$DESTDIR$PREFIX"
if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtualenv $PREFIX"
    "$PYTHON" -m venv "$venv"
fi
say "installing dependencies from requirements.txt"
"$venv/bin/python" -m pip install -q --require-hashes -r "$SRC/requirements.txt"
say "installing clinic-router"
"$venv/bin/python" -m pip install -q --no-deps --force-reinstall "$SRC"

# Config: the examples only when there is none yet; the database under /var/lib
install -d -m 0755 "$DESTDIR$ETC"
if [ ! -e "$DESTDIR$ETC/router.yaml" ]; then
    say "writing $ETC/router.yaml (the example, database in $VAR)"
    sed -e "s|^\(  url: \)sqlite+aiosqlite:///.*|\1sqlite+aiosqlite:///$VAR/router.db|" \
        -e "s|^# These are the sandbox defaults.*|# Installed by deploy/install.sh; edit, then: clinic-router check $ETC/router.yaml|" \
        "$SRC/config/router.yaml" >"$DESTDIR$ETC/router.yaml"
fi
if [ ! -e "$DESTDIR$ETC/rules.yaml" ]; then
    say "writing $ETC/rules.yaml (the example: put your operators' endpoints in it)"
    cp "$SRC/config/rules.yaml" "$DESTDIR$ETC/rules.yaml"
fi
env_file="$DESTDIR$ETC/clinic-router.env"
if [ ! -e "$env_file" ]; then
    say "writing $ETC/clinic-router.env with new random secrets"
    umask 077
    {
        echo "# Secrets of clinic-router (systemd EnvironmentFile); keep this file private."
        echo "# The ARI password is also in Asterisk's clinic-router-ari.conf: change both"
        echo "# with 'clinic-router asterisk-config --apply /etc/asterisk' after editing."
        echo "CLINIC_ROUTER_ARI_PASSWORD=$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')"
        echo "CLINIC_ROUTER_API_TOKEN=$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
    } >"$env_file"
    umask 022
fi
install -d -m 0750 "$DESTDIR$VAR"
if ! staged; then
    chown root:"$USER_NAME" "$ETC/clinic-router.env" && chmod 0640 "$ETC/clinic-router.env"
    chown "$USER_NAME:$USER_NAME" "$VAR"
    ln -sf "$PREFIX/bin/clinic-router" /usr/local/bin/clinic-router
fi

# The systemd unit (rewritten on every run: it belongs to the package, not the admin;
# local changes go in `systemctl edit clinic-router`)
install -d -m 0755 "$(dirname "$DESTDIR$UNIT")"
cat >"$DESTDIR$UNIT" <<UNIT
[Unit]
Description=clinic-router (ARI call routing for the clinic's Asterisk)
After=network-online.target asterisk.service
Wants=network-online.target

[Service]
Type=exec
User=$USER_NAME
Group=$USER_NAME
EnvironmentFile=$ETC/clinic-router.env
WorkingDirectory=$VAR
ExecStartPre=$PREFIX/bin/clinic-router check $ETC/router.yaml
ExecStart=$PREFIX/bin/clinic-router run --config $ETC/router.yaml
ExecReload=/bin/kill -HUP \$MAINPID
# A restart never drops a call: talking calls keep talking, waiting callers are resumed
Restart=always
RestartSec=1
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=$VAR

[Install]
WantedBy=multi-user.target
UNIT

# Check what was installed, as the router will read it
if ! staged; then
    (set -a && . "$ETC/clinic-router.env" && set +a &&
        "$PREFIX/bin/clinic-router" check "$ETC/router.yaml") ||
        say "fix what check says above, then run this again"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        # an upgrade: the running router restarts on the new version (migrations run at start)
        systemctl try-restart clinic-router.service
    fi
fi
say "done. Next:"
say "  1. edit $ETC/rules.yaml (operators' endpoints, lines) and run: clinic-router check $ETC/router.yaml"
say "  2. clinic-router asterisk-config --apply /etc/asterisk   (--diff /etc/asterisk shows it first)"
say "  3. clinic-router doctor; then systemctl enable --now clinic-router"
