#!/bin/sh
# Installs Tessera as the room's kiosk (run as root from the repository, after `make release`).
# What it does is listed in README.md, "Kiosk install"; it changes nothing it does not print.
set -eu
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo deploy/install.sh)"; exit 1; }
[ -x .build/release/tessera ] || { echo "install.sh: build first: make release"; exit 1; }
set -x
id tessera >/dev/null 2>&1 || useradd --system --home-dir /var/lib/tessera --shell /usr/sbin/nologin tessera
usermod -aG video,render,input tessera
install -m 0755 .build/release/tessera /usr/local/bin/tessera
install -d -m 0755 /usr/local/share/doc/tessera
install -m 0644 docs/kiosk.md docs/layouts.md Layouts/layout.schema.json /usr/local/share/doc/tessera/
install -d -m 0755 /etc/tessera
[ -f /etc/tessera/layout.json ] || install -m 0644 Layouts/lecture-theatre.json /etc/tessera/layout.json
[ -f /etc/tessera/tessera.env ] || install -m 0644 deploy/tessera.env /etc/tessera/tessera.env
[ -f /etc/tessera/wall-token ] || install -m 0640 -g tessera /dev/null /etc/tessera/wall-token
install -d -m 0755 /usr/local/lib/tessera
install -m 0755 deploy/tessera-network.sh /usr/local/lib/tessera/tessera-network.sh
install -m 0644 deploy/tessera.service /etc/systemd/system/tessera.service
systemctl daemon-reload
systemctl disable getty@tty1.service
systemctl enable tessera.service
set +x
echo "install.sh: now put the wall's token in /etc/tessera/wall-token, the backend in /etc/tessera/tessera.env,"
echo "  check with: sudo -u tessera tessera doctor --layout /etc/tessera/layout.json --signal URL --token-file /etc/tessera/wall-token"
echo "  then: systemctl start tessera"
