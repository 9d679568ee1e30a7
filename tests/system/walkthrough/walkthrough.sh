#!/usr/bin/env bash
# `make walkthrough`: the README's "From your model to production", run as written. The lines between the
# "README" markers are the README's commands, word for word (tests/system/walkthrough/test_walkthrough_text.py compares
# them); the rest prepares a temporary folder, waits where a person would look, and checks every answer.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CHECK="$ROOT/tests/system/walkthrough/check_answers.py"
# `python` below is the project's venv (make walkthrough installs it and names it in VENV_BIN).
export PATH="${VENV_BIN:-$ROOT/.venv/bin}:$PATH"
export PYTHONPATH="$ROOT"
WORK="$(mktemp -d)"
cd "$WORK"
# Free ports: the defaults (8000, 8001) may be taken on a shared machine.
PORT="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
GRPC_PORT="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export PORT GRPC_PORT
server_pid=""
finish() {
  status=$?
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  if [ "$status" -ne 0 ]; then
    echo "walkthrough FAILED (exit $status); the server's log:" >&2
    cat "$WORK/server.log" >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap finish EXIT
step() { printf '\n=== [%s s] %s\n' "$((SECONDS - started))" "$*"; }
# Until GET $1 answers what check_answers.py's $2 wants (a person would look again after a while).
wait_for() { for _ in $(seq 1 300); do curl -sf "localhost:$PORT$1" 2>/dev/null | python "$CHECK" "$2" 2>/dev/null && return 0; sleep 0.2; done; echo "timed out waiting for $1 ($2)" >&2; return 1; }
started=$SECONDS

step "train a tiny multi-label model (logits out, from_logits=True)"
# >>> README
cat > train.py <<'EOF'
import sys
import keras
import numpy as np

epochs, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(3000, 8)).astype("float32")
y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, np.abs(x[:, 3]) > 1], axis=1).astype("float32")
np.savez("val.npz", features=x[2000:], y=y[2000:])  # held out: calibration and the before/after table

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((8,), name="features"),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(3),  # logits: no sigmoid on the last layer
])
model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
model.fit(x[:2000], y[:2000], epochs=epochs, batch_size=64, verbose=0)
model.save(path)
EOF
python train.py 3 tagger.keras
# <<< README

step "export it (the sigmoid appended, parity with Keras proven) and calibrate it on the held-out rows"
# >>> README
python -m model_export tagger.keras --output tagger.onnx --labels first,sum,magnitude
python -m model_export calibrate tagger.onnx --data val.npz --target-recall magnitude=0.95 -o repo/tagger/1/model.onnx
# <<< README
test -f repo/tagger/1/model.onnx

step "serve the folder"
# >>> README
MODEL_REPOSITORY=repo MODEL_POLL_SECONDS=1 python -m service > server.log 2>&1 &
# <<< README
server_pid=$!
wait_for /health/ready ready

step "ask version 1 (curl)"
{
# >>> README
curl -s -X POST "localhost:${PORT:-8000}/predict" -H 'content-type: application/json' -d '{"instances": [[2, 1, 1, 2, 0, 0, 0, 0], [-2, -1, -1, 0, 0, 0, 0, 0]]}'
# <<< README
} | tee answer-1.json
python "$CHECK" native-answer 1 < answer-1.json

step "retrain and publish version 2 while version 1 is served"
# >>> README
python train.py 30 tagger-v2.keras
python -m model_export publish tagger-v2.keras --repository repo --name tagger --labels first,sum,magnitude --data val.npz
# <<< README
test -f repo/tagger/2/model.onnx
python "$CHECK" calibration-carried repo/tagger/2/model.onnx magnitude "target_recall=0.95"
wait_for /models/tagger served-version-2

step "ask version 2 (curl, then tritonclient)"
{
# >>> README
curl -s -X POST "localhost:${PORT:-8000}/predict" -H 'content-type: application/json' -d '{"instances": [[2, 1, 1, 2, 0, 0, 0, 0], [-2, -1, -1, 0, 0, 0, 0, 0]]}'
python - <<'EOF'
import os
import numpy as np
import tritonclient.http as httpclient

client = httpclient.InferenceServerClient(f"localhost:{os.environ.get('PORT', '8000')}")
rows = np.array([[2, 1, 1, 2, 0, 0, 0, 0], [-2, -1, -1, 0, 0, 0, 0, 0]], np.float32)
inputs = [httpclient.InferInput("features", list(rows.shape), "FP32")]
inputs[0].set_data_from_numpy(rows, binary_data=True)
outputs = [httpclient.InferRequestedOutput(name) for name in ("probabilities", "predictions")]
result = client.infer("tagger", inputs, outputs=outputs)
print(result.get_response()["model_version"], result.as_numpy("probabilities").tolist(), result.as_numpy("predictions").tolist())
EOF
# <<< README
} | tee answers-2.txt
python "$CHECK" answers-2 < answers-2.txt

step "stop the server"
# >>> README
kill %1
# <<< README
wait "$server_pid" || true
server_pid=""
grep -q "tagger" server.log
echo
echo "walkthrough passed in $((SECONDS - started)) s"
