#!/usr/bin/env bash
# Opt-in test of sealfs against a real Ceph RADOS Gateway (README "Testing
# against Ceph RGW"). It bootstraps a throwaway single-node Ceph cluster on
# loopback in a temporary directory: one monitor, one memstore OSD (data in
# memory only), radosgw with the beast frontend, and an S3 user. Then it
# runs the S3 tests against it and tears everything down by PID.
#
#   tests/ceph.sh                  run the S3 conformance suite and the mount
#                                  journeys against Ceph RGW
#   tests/ceph.sh CMD [ARGS...]    run CMD instead, with SEALFS_TEST_S3_*
#                                  and AWS_* pointing at the gateway
#
# Needs root (the mount tests), /dev/fuse, Go, and Debian's Ceph packages:
#   apt-get install ceph-mon ceph-osd radosgw ceph-common
# No systemd and nothing outside the temporary directory: the daemons run
# with --conf pointing at a generated ceph.conf. The sequence follows Ceph's
# src/vstart.sh. SEALFS_CEPH_KEEP=1 keeps the directory (logs) afterwards;
# GOTESTFLAGS adds flags to go test (e.g. -v). About 4 minutes here.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "ceph.sh: error: $*" >&2; exit 1; }
log() { echo "ceph.sh: $*" >&2; }

for bin in monmaptool ceph-authtool ceph-mon ceph-osd radosgw radosgw-admin ceph uuidgen curl python3 go; do
	command -v "$bin" >/dev/null || die "$bin not found (apt-get install ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl python3)"
done
[[ $(id -u) == 0 ]] || die "run as root: the mount tests mount FUSE directly"

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

dir=$(mktemp -d /tmp/sealfs-ceph.XXXXXX)
pids=()
teardown() {
	local rc=$?
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	if [[ $rc -ne 0 && -d $dir/log ]]; then
		log "failed (exit $rc); last lines of the daemons' logs:"
		tail -n 15 "$dir"/log/*.log >&2 || true
	fi
	[[ -n ${SEALFS_CEPH_KEEP:-} ]] || rm -rf "$dir"
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

monport=$(freeport)
rgwport=$(freeport)
fsid=$(uuidgen)
conf=$dir/ceph.conf
mkdir -p "$dir"/{run,log,mon.a,osd.0}
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$monport
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0

[mon]
mon data = $dir/mon.\$id
mon cluster log file = $dir/log/cluster.log

[osd]
osd data = $dir/osd.\$id
keyring = $dir/osd.\$id/keyring
osd objectstore = memstore
memstore device bytes = 4294967296
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgwport
rgw dns name = 127.0.0.1
rgw data = $dir/rgw
rgw enable usage log = false
EOF
ceph() { command ceph --conf "$conf" "$@"; }

log "bootstrapping Ceph $(ceph-mon --version | awk '{print $3}') in $dir (mon 127.0.0.1:$monport, rgw 127.0.0.1:$rgwport)"
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin \
	--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --clobber --fsid "$fsid" --addv a "[v1:127.0.0.1:$monport]" "$dir/monmap" >/dev/null
ceph-mon --conf "$conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring"
ceph-mon --conf "$conf" -i a -f &
pids+=($!)
ceph --connect-timeout 30 status >/dev/null || die "the monitor does not answer"

osduuid=$(uuidgen)
osdkey=$(ceph-authtool --gen-print-key)
printf '{"cephx_secret": "%s"}\n' "$osdkey" >"$dir/osd.0/new.json"
printf '[osd.0]\n\tkey = %s\n' "$osdkey" >"$dir/osd.0/keyring"
osdid=$(ceph osd new "$osduuid" -i "$dir/osd.0/new.json")
[[ $osdid == 0 ]] || die "ceph osd new gave id $osdid, want 0"
ceph-osd --conf "$conf" -i 0 --mkfs --key "$osdkey" --osd-uuid "$osduuid" >/dev/null 2>&1 ||
	die "ceph-osd --mkfs failed: $(tail -n 5 "$dir/log/osd.0.log")"
ceph-osd --conf "$conf" -i 0 -f &
pids+=($!)
for _ in $(seq 300); do
	ceph osd dump 2>/dev/null | grep -q '^osd.0 up' && break
	sleep 0.2
done
ceph osd dump | grep -q '^osd.0 up' || die "osd.0 did not come up"

mkdir -p "$dir/rgw"
ceph auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' >>"$dir/keyring"
radosgw --conf "$conf" -n client.rgw.a -f &
pids+=($!)
for _ in $(seq 600); do
	curl -fs -o /dev/null "http://127.0.0.1:$rgwport/" && break
	sleep 0.2
done
curl -fs -o /dev/null "http://127.0.0.1:$rgwport/" || die "radosgw does not answer on 127.0.0.1:$rgwport"

access=SEALFS$(uuidgen | tr -d - | head -c 14 | tr a-z A-Z)
secret=$(ceph-authtool --gen-print-key | tr -d '=+/' | head -c 40)
radosgw-admin --conf "$conf" -n client.admin user create --uid=sealfs --display-name=sealfs \
	--access-key="$access" --secret-key="$secret" >/dev/null
log "radosgw $(radosgw --version | awk '{print $3}') is up at http://127.0.0.1:$rgwport"

export SEALFS_TEST_S3_ENDPOINT=http://127.0.0.1:$rgwport
export SEALFS_TEST_S3_ACCESS_KEY=$access
export SEALFS_TEST_S3_SECRET_KEY=$secret
export SEALFS_TEST_S3_IFMATCH=unquoted
export AWS_ENDPOINT_URL=$SEALFS_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1

if [[ $# -gt 0 ]]; then
	"$@"
	exit
fi

# The storage contract against RGW itself (the self-test must choose the
# unquoted If-Match), then the real binary on FUSE: the journey (a 40 MiB
# database rewritten in place, 500 media files, another device restoring
# every byte, passwd), the writer lease between two devices, snapshots,
# prune and check, and the If-Match tests (through the RGW-like proxy, here
# in front of RGW).
export SEALFS_STRICT=1
t0=$SECONDS
go test -count=1 -timeout 20m ${GOTESTFLAGS:-} \
	-run '^(TestS3Conformance|TestSelfTestS3|TestS3ConformanceLikeCephRGW|TestSingleWriterOnStoreWithoutIfMatch)$' ./remote/
go test -count=1 -timeout 20m ${GOTESTFLAGS:-} \
	-run '^(TestJourneyS3|TestDevicesLease|TestDevicesRollback|TestHistoryS3|TestJourneyLikeCephRGW|TestMountNeitherIfMatchForm)$' ./tests/
log "passed against $(radosgw --version | awk '{print "Ceph RGW", $3}') in $((SECONDS - t0))s"
