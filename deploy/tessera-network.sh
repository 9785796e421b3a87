#!/bin/sh
# Limits the network of tessera.service to the addresses in TESSERA_IP_ALLOW (from
# /etc/tessera/tessera.env), by cgroup (systemd's IPAddressDeny=/IPAddressAllow=): defence in depth
# behind the wall's own URL policy. Run by tessera.service as `ExecStartPre=+` (as root, before the
# kiosk starts). systemd does not expand variables in IPAddressAllow=, so the unit cannot take the
# list from its EnvironmentFile= directly; `systemctl set-property --runtime` applies it to the
# unit's cgroup at once and keeps it under /run until the next boot. An empty or unset
# TESSERA_IP_ALLOW lifts a limit set earlier in this boot.
set -eu
unit=${1:-tessera.service}
if [ -n "${TESSERA_IP_ALLOW:-}" ]; then
    # localhost: /metrics and /healthz on 127.0.0.1, the systemd-resolved stub resolver. One
    # IPAddressAllow= per address: systemctl (252) takes the word "localhost" only on its own, and
    # refused "IPAddressAllow=localhost 10.0.0.5" (so the unit never started; make e2e-boot check 8).
    set -f  # the list is split on spaces, never globbed
    set -- IPAddressDeny=any IPAddressAllow=localhost
    for address in $TESSERA_IP_ALLOW; do
        set -- "$@" "IPAddressAllow=$address"
    done
    exec systemctl set-property --runtime "$unit" "$@"
elif [ -e "/run/systemd/system.control/$unit.d/50-IPAddressDeny.conf" ]; then
    exec systemctl set-property --runtime "$unit" IPAddressDeny= IPAddressAllow=
fi
# Nothing to lift: the unit is left alone, since every set-property makes `systemctl status tessera`
# warn that the unit "changed on disk" (systemd #3217) until the next daemon-reload.
