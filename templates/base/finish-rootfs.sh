#!/bin/sh
# Runs inside the freshly bootstrapped root file system (chroot) before it becomes the
# base image: what every node of every stack shares, and nothing that must be unique.
set -eu

# Security updates from Debian's security host itself, which is not mirrored (they reach
# nodes first there); Lynis also knows the archive by that name (PKGS-7388) once apt has an
# /etc/apt/sources.list, which unattended-upgrades' first run leaves behind, empty.
cat > /etc/apt/sources.list.d/debian.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.debian.org/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
rm -f /etc/apt/sources.list

# Host identity is made per node at first boot, never baked into an image.
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

# Nothing in a node may prompt; keep images small.
echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90-egov-no-recommends
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/* /var/tmp/*
