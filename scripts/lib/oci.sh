# shellcheck shell=bash
# OCI image archives without a Docker engine, for `ctr images import` (scripts/kube-node's
# pause and busybox images, scripts/build-image's splitbrain image). Sourced, not run.
#
#   oci_archive NAME CONFIG_JSON OUT LAYER_DIR...
#
# writes OUT, an OCI image layout as a tar, whose index names the image NAME
# (io.containerd.image.name, which ctr uses). Each LAYER_DIR becomes one uncompressed
# layer, the first at the bottom; CONFIG_JSON is the image config's "config" object
# ({"Entrypoint":[...],"Env":[...]}). Files are stored with owner 0 and mtime 0 so the
# same folders give the same digests.

oci_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Stores file $2 in OCI layout $1 as a blob; prints its descriptor's digest and size.
oci_add_blob() {
  local digest size
  digest=$(oci_sha256 "$2")
  size=$(stat -c %s "$2")
  mv "$2" "$1/blobs/sha256/$digest"
  printf '"digest":"sha256:%s","size":%s' "$digest" "$size"
}

oci_archive() {
  local name=$1 config_json=$2 out=$3 layout dir n=0 diff_ids="" layers="" config manifest
  shift 3
  layout=$(mktemp -d "$(dirname "$out")/layout.XXXXXX")
  mkdir -p "$layout/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  for dir in "$@"; do
    n=$((n + 1))
    tar -C "$dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
      -cf "$layout/layer$n.tar" .
    diff_ids+="${diff_ids:+,}\"sha256:$(oci_sha256 "$layout/layer$n.tar")\""
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",$(oci_add_blob "$layout" "$layout/layer$n.tar")}"
  done
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$config_json" "$diff_ids" >"$layout/config.json"
  config=$(oci_add_blob "$layout" "$layout/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json",%s},"layers":[%s]}' \
    "$config" "$layers" >"$layout/manifest.json"
  manifest=$(oci_add_blob "$layout" "$layout/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$name" "${name##*:}" >"$layout/index.json"
  tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out.part" .
  mv "$out.part" "$out"
  rm -rf "$layout"
}
