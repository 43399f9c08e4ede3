#!/bin/bash
# scripts/ops/install_otel_central_collector.sh - installs the central
# OpenTelemetry Collector (justnews-otel-central.service), which the GPU
# hosts' node collectors send to, around the operator's otelcol-contrib.
# See usage() below and scripts/ops/common.sh for the design.
set -eu

usage() {
	cat <<'USAGE'
Usage: scripts/ops/install_otel_central_collector.sh [--otelcol PATH] [--no-start] [--dry-run] [--root DIR] [--prefix P]
       scripts/ops/install_otel_central_collector.sh --uninstall [--purge] [--dry-run] [--root DIR] [--prefix P]

Installs the central collector, from packaging/otel/ of this checkout
(nothing is built or downloaded):
  /etc/justnews/monitoring/otel/central.env                   0640 root:root
  /etc/justnews/monitoring/otel/central-collector-config.yaml 0644
  PREFIX/lib/systemd/system/justnews-otel-central.service     0644
then checks the configuration with the collector's "validate" under the env
file, and enables and (re)starts the service (only when systemd runs; with
--root it is only enabled).  The service runs as justnews-otel, an account
systemd makes at start (DynamicUser=); its state (the exporters' queues) is
/var/lib/justnews-otel-central.  Set the Tempo and Loki endpoints in
central.env (--no-start, then systemctl enable --now, or restart after).

The collector is the operator's otelcol-contrib, 0.144.0 or later: --otelcol
PATH, else the one the installed unit runs, else otelcol-contrib on PATH,
else /usr/local/bin/otelcol-contrib.  With --root, each is looked for in DIR
first, then on this machine; the unit names the path without DIR.

An edited central.env or configuration is never overwritten; the new
version goes beside it as *.gputel-new.

Options:
  --otelcol PATH  the collector binary (the unit runs this path)
  --no-start      install, but neither enable nor start the service (tune
                  central.env first, then: systemctl enable --now justnews-otel-central)
  -n, --dry-run   print what would change; change nothing
  --root DIR      install into DIR instead of / (the DESTDIR variable too);
                  nothing is started, systemctl --root only enables the unit
  --prefix P      where the unit goes (P/lib/systemd/system) and the record
                  of what was installed (P/share/gputel); default /usr/local
  --uninstall     stop and disable the service, remove what was installed
                  (an edited central.env or configuration is kept)
  --purge         with --uninstall: also remove the edited files and the
                  collector's state (the exporters' queues)
  -h, --help      this help
Exit status: 0 done, 1 failed (the collector refuses the configuration, the
service did not start), 2 usage error, not root, or no usable collector.
USAGE
}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
otel_main central "$@"
