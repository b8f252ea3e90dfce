#!/usr/bin/env bash
# Puts ONNX Runtime's C API headers into DIR (default: export/c/include) from the npm
# registry: the Unity plugin package com.github.asus4.onnxruntime@0.4.9 ships ONNX Runtime
# 1.29.0's headers (ORT_API_VERSION 29) inside its iOS framework; they are the same files as
# the include/ folder of ONNX Runtime's release archive. No registry offers the headers of
# 1.32 (the onnxruntime wheel ships none); the C API only grows, so a program built with the
# 1.29 headers runs on the 1.32 library of the wheel. The package is 150 MB (kept in npm's cache).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/include}"
package="com.github.asus4.onnxruntime@0.4.9"
headers="package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers"
if [ -f "$out/onnxruntime_c_api.h" ]; then exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" > /dev/null)
tar xzf "$work"/*.tgz -C "$work" "$headers"
mkdir -p "$out"
cp "$work/$headers"/*.h "$out/"
grep -q "define ORT_API_VERSION 29" "$out/onnxruntime_c_api.h"
echo "ONNX Runtime 1.29.0 C API headers in $out"
