#!/bin/sh
# The installer pod's program (deploy/ukrun-deploy.yaml): installs ukrun on
# its node, labels the node so RuntimeClass `ukrun` schedules there, then
# waits; on termination (DaemonSet deleted, pod evicted) it removes the
# label and puts the node back as it was.
# Needs: NODE_NAME (downward API), the host's / at /host, hostPID (for
# nsenter into the host's mount namespace to ask and restart containerd).
set -eu

host_exec="nsenter --target 1 --mount --"
label=ukrun.dev/installed

# label VALUE: sets (true) or removes (null) the node's label through the
# API server with the pod's service account.
label() {
	sa=/var/run/secrets/kubernetes.io/serviceaccount
	curl -sSf --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token")" \
		-H 'Content-Type: application/merge-patch+json' -X PATCH \
		"https://kubernetes.default.svc/api/v1/nodes/$NODE_NAME" \
		-d "{\"metadata\":{\"labels\":{\"$label\":$1}}}" >/dev/null
}

uninstall() {
	label null || echo "ukrun-deploy: could not remove the node label" >&2
	ukrun-deploy uninstall --host-root /host --host-exec "$host_exec"
	exit 0
}

ukrun-deploy install --ukrun /usr/local/bin/ukrun --host-root /host --host-exec "$host_exec"
label '"true"'
trap uninstall TERM INT
echo "ukrun-deploy: installed on $NODE_NAME"
while :; do sleep 3600 & wait $!; done
