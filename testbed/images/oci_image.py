#!/usr/bin/env python3
"""Writes an OCI image layout tarball (one gzip layer) from a directory.

The test bed has no registry: its images are built here and loaded with
`ctr -n k8s.io images import`. The index carries both
`org.opencontainers.image.ref.name` and `io.containerd.image.name` so the
import names the image NAME. Output is deterministic (sorted entries, uid 0,
mtime 0), so an unchanged rootfs gives an identical tarball.

Usage: oci_image.py --rootfs DIR --name REF --out TAR
           [--entrypoint JSON_LIST] [--cmd JSON_LIST] [--env K=V]... [--label K=V]...
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile

EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def normalise(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def dir_info(name):
    info = normalise(tarfile.TarInfo(name))
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def layer_tar(rootfs):
    """Uncompressed tar of rootfs's contents (paths relative to rootfs)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted(dirs + files):
                path = os.path.join(top, name)
                info = normalise(tar.gettarinfo(path, os.path.relpath(path, rootfs)))
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                elif info.isdir() or info.issym() or info.islnk():
                    tar.addfile(info)
                # device nodes, sockets and fifos are left out on purpose
    return buf.getvalue()


def descriptor(media_type, data, **extra):
    return dict(mediaType=media_type, digest="sha256:" + hashlib.sha256(data).hexdigest(),
                size=len(data), **extra)


def key_values(pairs):
    return dict(p.split("=", 1) for p in pairs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--name", required=True, help="e.g. localhost/ukrun/pause:latest")
    ap.add_argument("--out", required=True)
    ap.add_argument("--entrypoint", type=json.loads)
    ap.add_argument("--cmd", type=json.loads)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--label", action="append", default=[])
    args = ap.parse_args()

    layer = layer_tar(args.rootfs)
    layer_gz = gzip.compress(layer, compresslevel=6, mtime=0)
    config = {k: v for k, v in (("Entrypoint", args.entrypoint), ("Cmd", args.cmd)) if v is not None}
    config.update(Env=[DEFAULT_PATH] + args.env, WorkingDir="/", Labels=key_values(args.label))
    image_config = json.dumps({
        "created": EPOCH, "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "history": [{"created": EPOCH, "created_by": "ukrun testbed oci_image.py"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": descriptor(MT_CONFIG, image_config),
        "layers": [descriptor(MT_LAYER, layer_gz)],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": MT_INDEX,
        "manifests": [descriptor(
            MT_MANIFEST, manifest,
            platform={"architecture": "amd64", "os": "linux"},
            annotations={"org.opencontainers.image.ref.name": args.name,
                         "io.containerd.image.name": args.name})],
    }, sort_keys=True).encode()

    files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
             ("index.json", index)]
    files += [("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)
              for blob in (manifest, image_config, layer_gz)]
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(dir_info(d))
        for name, data in files:
            info = normalise(tarfile.TarInfo(name))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
