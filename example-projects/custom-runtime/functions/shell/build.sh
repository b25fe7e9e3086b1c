#!/bin/sh
# Runs in forge's scratch copy of the inputs; $FORGE_OUTPUT is the `output` directory.
set -eu
sed "s/@VERSION@/$(cat VERSION)/" bootstrap.in > "$FORGE_OUTPUT/bootstrap"
chmod 755 "$FORGE_OUTPUT/bootstrap"
cp handler.sh "$FORGE_OUTPUT/"
