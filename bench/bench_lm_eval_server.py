"""Benchmark: lm-evaluation-harness through ``python -m core.serve_model`` against lm-eval's own ``hf`` model.

lm-eval 0.4.13 is heavy, so it lives in its own environment, never in the project's
requirements::

    python3 -m venv bench/.venv-peers
    bench/.venv-peers/bin/pip install "lm-eval[api,hf]==0.4.13" torch==2.13.0   # pin torch, or it pulls CUDA
    python bench/bench_lm_eval_server.py

The script writes two small local tasks (no download): ``whylm_greedy``, a
loglikelihood task whose ``acc`` is lm-eval's greedy check (is the target the
model's argmax at every position?) with its perplexity, and ``whylm_choice``, a
multiple-choice task. It starts the server over the bundled model (the project's
environment), runs lm-eval's ``local-completions`` model against it and lm-eval's
``hf`` model on the same converted weights, and prints both side by side. Before
issue 22 the server's ``top_logprobs`` held only the chosen token, so the greedy
check read 1.000 through the server whatever the model did.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / ".venv-peers" / "bin" / "python"

GREEDY_ITEMS = [
    ("The capital of France is", "Paris"), ("The capital of Italy is", "Rome"), ("The capital of Spain is", "Madrid"),
    ("The capital of Japan is", "Tokyo"), ("The capital of Germany is", "Berlin"),
    ("The capital of Canada is", "Ottawa"), ("The capital of Australia is", "Canberra"),
    ("The capital of Kenya is", "Nairobi"), ("One, two, three, four,", "five"), ("1, 2, 3, 4, 5,", "6"),
    ("Monday, Tuesday, Wednesday,", "Thursday"), ("January, February, March,", "April"),
    ("A, B, C, D,", "E"), ("The opposite of hot is", "cold"), ("The opposite of up is", "down"),
    ("The sun rises in the", "east"), ("Water freezes at zero degrees", "Celsius"),
    ("The largest planet in the solar system is", "Jupiter"), ("The author of Hamlet is William", "Shakespeare"),
    ("Two plus two equals", "four"), ("The color of the sky on a clear day is", "blue"),
    ("Cats say meow and dogs say", "woof"), ("The first man on the moon was Neil", "Armstrong"),
    ("The chemical symbol for gold is", "Au"), ("Red, orange, yellow, green,", "blue"),
    ("The Eiffel Tower is in", "Paris"), ("Ice is frozen", "water"), ("A week has seven", "days"),
    ("The plural of mouse is", "mice"), ("Bread is made from", "flour"),
]

CHOICE_ITEMS = [
    ("Which is a fruit?", ["apple", "chair", "cloud"], 0), ("Which animal barks?", ["cat", "dog", "fish"], 1),
    ("Which is the largest?", ["mouse", "cat", "elephant"], 2), ("What do bees make?", ["honey", "milk", "silk"], 0),
    ("Which is a color?", ["seven", "green", "table"], 1), ("Which one can fly?", ["rock", "car", "bird"], 2),
    ("What is frozen water?", ["ice", "steam", "sand"], 0), ("Which is a number?", ["blue", "nine", "dog"], 1),
    ("Where do fish live?", ["trees", "desert", "water"], 2), ("What do we drink?", ["water", "wood", "glass"], 0),
    ("Which is hot?", ["snow", "fire", "ice"], 1), ("Which is a day?", ["May", "June", "Monday"], 2),
    ("Which is a planet?", ["Mars", "Paris", "Nile"], 0), ("What do cows give?", ["eggs", "milk", "wool"], 1),
    ("Which is a tool?", ["banana", "river", "hammer"], 2),
]


def write_tasks(folder: Path) -> list[str]:
    """The two task configs and their data (JSON lines) in ``folder``; their names."""
    with open(folder / "greedy.jsonl", "w", encoding="utf-8") as f:
        for context, target in GREEDY_ITEMS:
            f.write(json.dumps({"context": context, "target": " " + target}) + "\n")  # lm-eval adds no space here
    with open(folder / "choice.jsonl", "w", encoding="utf-8") as f:
        for question, choices, answer in CHOICE_ITEMS:
            f.write(json.dumps({"question": question, "choices": choices, "answer": answer}) + "\n")
    (folder / "whylm_greedy.yaml").write_text(f"""task: whylm_greedy
dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'greedy.jsonl'}
test_split: test
output_type: loglikelihood
doc_to_text: "{{{{context}}}}"
doc_to_target: "{{{{target}}}}"
metric_list:
  - metric: perplexity
    aggregation: perplexity
    higher_is_better: false
  - metric: acc
    aggregation: mean
    higher_is_better: true
""", encoding="utf-8")
    (folder / "whylm_choice.yaml").write_text(f"""task: whylm_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'choice.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
""", encoding="utf-8")
    return ["whylm_greedy", "whylm_choice"]


PEER_SCRIPT = """
import json, sys
import lm_eval
from lm_eval.tasks import TaskManager
model, model_args, include, tasks, out = sys.argv[1:6]
results = lm_eval.simple_evaluate(model=model, model_args=model_args, tasks=tasks.split(","), device="cpu",
                                  task_manager=TaskManager(include_path=include), batch_size=1, bootstrap_iters=0)
json.dump(results["results"], open(out, "w"))
"""


def run_peer(model: str, model_args: str, folder: Path, tasks: list[str], out: Path) -> tuple[dict, float]:
    """lm-eval's results for one model (in the peers' environment) and the seconds it took."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    done = subprocess.run([str(PEERS), "-c", PEER_SCRIPT, model, model_args, str(folder), ",".join(tasks), str(out)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"lm-eval ({model}) failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8")), time.perf_counter() - started


def main() -> None:
    """Print lm-eval's numbers through the server and with its ``hf`` model, side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server-only", action="store_true", help="skip lm-eval's hf model (the slow side)")
    args = parser.parse_args()
    if not PEERS.exists():
        sys.exit(f"{PEERS} is missing; create it as this script's docstring says.")
    sys.path.insert(0, str(ROOT))
    from core.models.loading import bundled_cache_folder, load_model

    load_model("default")  # converts the bundled GGUF once, so both sides read the same safetensors folder
    weights = bundled_cache_folder()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tasks = write_tasks(folder)
        server = subprocess.Popen(
            [sys.executable, "-m", "core.serve_model", "--model", "default", "--port", "0"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = server.stdout.readline()
            if not line.startswith("Serving"):
                sys.exit(line + server.stderr.read())
            url = line.split(" on ")[1].strip()
            served, served_s = run_peer(
                "local-completions",
                f"model=default,base_url={url}/completions,tokenizer={weights},tokenizer_backend=huggingface,"
                "num_concurrent=1,max_retries=1,tokenized_requests=True",
                folder, tasks, folder / "served.json",
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        direct, direct_s = (served, 0.0) if args.server_only else run_peer(
            "hf", f"pretrained={weights},dtype=float32", folder, tasks, folder / "hf.json")
    print(f"lm-evaluation-harness 0.4.13 on the bundled SmolLM2-135M-Instruct (load: {os.getloadavg()[0]:.1f})")
    print(f"{'task':<14} {'metric':<12} {'through the server':>20} {'hf direct':>12} {'difference':>12}")
    for task in tasks:
        for key, value in sorted(direct[task].items()):
            if not isinstance(value, (int, float)) or "stderr" in key:
                continue
            other = served[task].get(key)
            diff = f"{abs(other - value):.2e}" if isinstance(other, (int, float)) else "-"
            print(f"{task:<14} {key.split(',')[0]:<12} {other!s:>20} {value!s:>12} {diff:>12}")
    print(f"seconds: through the server {served_s:.0f}, hf direct {direct_s:.0f}")


if __name__ == "__main__":
    main()
