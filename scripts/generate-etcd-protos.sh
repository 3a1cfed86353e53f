#!/usr/bin/env bash
# Regenerates Sources/WRaftEtcd/Generated from Protos/etcd (WRaft's own description of etcd's
# v3 gRPC API). Run it after changing a .proto; commit what it writes. A normal build needs
# neither protoc nor the plugins: the generated Swift is committed.
#
# Needs protoc (Debian: protobuf-compiler). The two plugins are built from the package
# checkouts of this repo (swift-protobuf's protoc-gen-swift, grpc-swift-protobuf's
# protoc-gen-grpc-swift-2).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc is missing (apt-get install -y protobuf-compiler)" >&2; exit 1; }
swift build --product protoc-gen-swift
swift build --product protoc-gen-grpc-swift-2
bin="$(swift build --show-bin-path)"

out=Sources/WRaftEtcd/Generated
rm -rf "$out"
mkdir -p "$out"
protoc --proto_path=Protos/etcd \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
  --swift_out="$out" --swift_opt=Visibility=Public \
  --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,Server=true,Client=true \
  Protos/etcd/kv.proto Protos/etcd/rpc.proto
echo "wrote $(ls "$out" | tr '\n' ' ')"
