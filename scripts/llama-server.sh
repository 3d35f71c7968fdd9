#!/usr/bin/env bash
# Build llama.cpp's llama-server offline from the PyPI sdist of llama-cpp-python (it vendors llama.cpp) and
# print the binary's path. The build (about 6 minutes on 2 cores) is cached outside the repository, keyed by
# the version, so later runs skip it. Used by the tests that measure a real LLM server
# (../shared/models/stories260K.gguf); see ../shared/models/README.md.
set -euo pipefail
VERSION=0.3.36
CACHE="${CHATBENCH_CACHE:-$HOME/.cache/chatbench}/llama-server-$VERSION"
BIN="$CACHE/llama-server"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK/dl" >&2
tar xzf "$WORK/dl/llama_cpp_python-$VERSION.tar.gz" -C "$WORK"
# The two UI options must be off, or the build tries to download a web UI and fails offline.
cmake -S "$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF >&2
cmake --build "$WORK/build" --target llama-server -j"$(nproc)" >&2
mkdir -p "$CACHE"
cp "$WORK/build/bin/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "$BIN"
