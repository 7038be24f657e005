"""Benchmark: WhyLM's document probe against ContextCite (``context-cite`` 0.0.4, its own code) on the bundled model.

ContextCite lives in the peers' environment, never in the project's requirements::

    bench/.venv-peers/bin/pip install --no-deps context-cite==0.0.4   # torch 2.13.0 CPU is there already

Three self-written documents of 20, 60 and 120 sentences (paragraphs of five), each with a question
whose answer rests on one or two sentences. At 32, 64 and 128 forward passes, both methods
attribute the same answer to the same sentences (ContextCite gets WhyLM's partition through its
own ``BaseContextPartitioner`` and WhyLM's answer as its output), with ContextCite's prompt
layout ("Context: ...\\n\\nQuery: ...", chat template). Both are then judged on the same neutral
ground, prompts tokenized whole as ContextCite builds them:

- top-k drop (k = 1, 3, 5): the answer's log-probability with every sentence minus with the k
  sentences ranked highest removed (larger is better);
- LDS: Spearman correlation, over 200 held-out random ablations (each sentence kept with
  probability 1/2), between the attribution's linear prediction and the real log-probability.

Then the time of WhyLM's default run on the 120-sentence document (about 3,000 tokens) at
sentence level, in a fresh process on two CPU threads, with the tokens its prefix tree ran
against the tokens of every ablation scored whole.

ContextCite's module imports three packages its sentence splitting and batching use (spaCy,
nltk's punkt download, datasets); they are not in the peers' environment, so the peer process
stands in a no-op for the download and a list for ``datasets.Dataset`` (its partitioner is ours).

    python bench/bench_documents.py [--sizes 20 60 120] [--passes 32 64 128] [--heldout 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEERS = ROOT / "bench" / ".venv-peers" / "bin" / "python"
TEMPLATE = "Context: {document}\n\nQuery: {question}"  # ContextCite's DEFAULT_PROMPT_TEMPLATE

SUBJECTS = [
    "The old mill by the weir",
    "The town council",
    "The public library on Fern Street",
    "The fish market",
    "The coastal footpath",
    "The bell tower of Saint Aldo",
    "The school choir",
    "The weekly bus to Corran",
    "The cooperative dairy",
    "The stone bridge over the Lune",
    "The harbour wall",
    "The allotment society",
    "The village hall",
    "The chess club",
    "The cider press on Ash Lane",
    "The museum of tin mining",
    "The tide clock in the square",
    "The rowing club",
    "The weather station on the ridge",
    "The parish archive",
    "The ferry waiting room",
    "The market cross",
    "The sheep fair",
    "The brass band",
    "The quarry pond",
]
PREDICATES = [
    "was repainted a pale green last spring",
    "meets on the first Tuesday of every month",
    "was built from granite cut in the valley",
    "closes early on Sunday afternoons in winter",
    "keeps a record of every storm since the war",
    "was rebuilt after the flood of the wet year",
    "is run by volunteers from the three farms",
    "sells its surplus apples to the inn",
    "has a roof of slate brought by cart",
    "draws visitors from the northern towns in August",
    "was the subject of a long dispute over rights of way",
    "still uses the lamps fitted a century ago",
    "lends tools to anyone with a library card",
    "was moved twice before it settled by the green",
    "holds a lantern walk on the shortest day",
    "pays its caretaker in firewood and bread",
    "was painted by a visiting artist who never returned",
    "has a sundial that runs ten minutes slow",
    "keeps bees in a row of white hives",
    "opens its doors for the harvest supper",
]
CASES = {
    20: (
        "Who is the harbour master of Kelby?",
        "The harbour master of Kelby is Orla Penn.",
        ["The harbour master of Kelby is a tall woman named Orla Penn, who took the post after her father."],
    ),
    60: (
        "Where does the ferry to Sanna leave from?",
        "It leaves from pier four, at the north end of the harbour.",
        [
            "The ferry to Sanna no longer leaves from the old slipway but from pier four.",
            "Pier four stands at the north end of the harbour, past the ice house.",
        ],
    ),
    120: (
        "What colour is the door of the lifeboat station?",
        "The door of the lifeboat station is bright orange.",
        ["Everyone in Kelby knows the lifeboat station by its door, which is painted bright orange."],
    ),
}


def filler(i: int) -> str:
    """The i-th self-written filler sentence: two clauses about the town (about 25 tokens)."""
    a, b = SUBJECTS[i % len(SUBJECTS)], SUBJECTS[(i * 7 + 3) % len(SUBJECTS)]
    p, q = PREDICATES[(i * 3) % len(PREDICATES)], PREDICATES[(i * 11 + 5) % len(PREDICATES)]
    return f"{a} {p}, and {b[0].lower() + b[1:]} {q}."


def document(size: int) -> tuple[str, str, str]:
    """A document of ``size`` sentences (paragraphs of five), its question and answer; the key sentences sit
    about two thirds of the way in."""
    question, answer, keys = CASES[size]
    sentences = [filler(i) for i in range(size - len(keys))]
    at = (2 * size) // 3
    sentences[at:at] = keys
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, size, 5)]
    return "\n\n".join(paragraphs), question, answer


# ----------------------------------------------------------------- ContextCite, in the peers' environment

PEER = r"""
import json, sys, types
import numpy as np
import nltk
nltk.download = lambda *a, **k: None
spacy = types.ModuleType("spacy"); lang = types.ModuleType("spacy.lang"); en = types.ModuleType("spacy.lang.en")
en.English = object; spacy.lang = lang; lang.en = en
sys.modules.update({"spacy": spacy, "spacy.lang": lang, "spacy.lang.en": en})
datasets = types.ModuleType("datasets")
class Dataset(list):
    @classmethod
    def from_dict(cls, d):
        keys = list(d)
        return cls({k: d[k][i] for k in keys} for i in range(len(d[keys[0]])))
datasets.Dataset = Dataset
sys.modules["datasets"] = datasets
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from context_cite import ContextCiter
from context_cite.context_partitioner import BaseContextPartitioner

class Given(BaseContextPartitioner):
    def __init__(self, context, parts, separators):
        super().__init__(context)
        self.parts, self.separators = parts, separators
    @property
    def num_sources(self):
        return len(self.parts)
    def split_context(self):
        pass
    def get_source(self, index):
        return self.parts[index]
    def get_context(self, mask=None):
        if mask is None:
            mask = np.ones(self.num_sources, dtype=bool)
        out = ""
        for i, (sep, part) in enumerate(zip(np.array(self.separators)[mask], np.array(self.parts)[mask])):
            out += (sep if i > 0 else "") + part
        return out

import time
job = json.load(sys.stdin)
torch.set_num_threads(job["threads"])
tok = AutoTokenizer.from_pretrained(job["weights"])
model = AutoModelForCausalLM.from_pretrained(job["weights"], torch_dtype=torch.float32).to(job["device"]).eval()
out = {}
# ContextCite draws ablation i with seed i, so the first b ablations of the largest budget are the ablations
# it draws with b: they are scored once, and each budget is fitted (by ContextCite's own solver) on its first b.
largest = max(job["passes"])
part = Given(job["context"], job["parts"], job["separators"])
cc = ContextCiter(model, tok, job["context"], job["query"], partitioner=part, num_ablations=largest)
prompt_ids, prompt = cc._get_prompt_ids(return_prompt=True)
cc._cache["output"] = prompt + job["answer"]
start = time.perf_counter()
cc._compute_masks_and_logit_probs()
scored = time.perf_counter() - start
masks, logits = cc._cache["reg_masks"], cc._cache["reg_logit_probs"]
for budget in job["passes"]:
    cc._cache["reg_masks"], cc._cache["reg_logit_probs"] = masks[:budget], logits[:budget]
    start = time.perf_counter()
    out[str(budget)] = [float(x) for x in cc.get_attributions(verbose=False)]
    out["seconds_" + str(budget)] = scored * budget / largest + time.perf_counter() - start
print(json.dumps(out))
"""


def contextcite(
    weights: str,
    text: str,
    parts: list[str],
    seps: list[str],
    question: str,
    answer: str,
    passes: list[int],
    device: str,
    threads: int,
) -> dict[str, list[float]]:
    """ContextCite's attributions (one per sentence) at each budget, computed by its own code in the peers' venv."""
    job = {
        "weights": weights,
        "context": text,
        "parts": parts,
        "separators": seps,
        "query": question,
        "answer": answer,
        "passes": passes,
        "device": device,
        "threads": threads,
    }
    done = subprocess.run(
        [str(PEERS), "-c", PEER], input=json.dumps(job), capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit("ContextCite failed:\n" + done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------- the neutral judge


class Judge:
    """Scores ablations as ContextCite builds them (the chat-wrapped prompt tokenized whole)."""

    def __init__(self, lm, parts: list[str], seps: list[str], question: str, answer: str) -> None:
        from core.attribution.scorer import BatchedScorer

        self.lm, self.parts, self.seps, self.question = lm, parts, seps, question
        self.answer = lm.tokenizer(answer, add_special_tokens=False)["input_ids"]
        self.scorer = BatchedScorer(lm)

    def ids(self, mask: np.ndarray) -> list[int]:
        kept = [i for i in range(len(self.parts)) if mask[i]]
        context = "".join((self.seps[i] if j else "") + self.parts[i] for j, i in enumerate(kept))
        text = TEMPLATE.format(document=context, question=self.question)
        chat = self.lm.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        return self.lm.tokenizer.encode(chat, add_special_tokens=False)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        rows = [(self.ids(m), self.answer) for m in masks]
        return np.array([float(lp.sum()) for lp in self.scorer.log_probs(rows)])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def judged(
    judge: Judge, attr: np.ndarray, heldout: np.ndarray, heldout_values: np.ndarray, full: float
) -> list[float]:
    """Top-1/3/5 drops and the LDS of one attribution vector."""
    order = np.argsort(-attr, kind="stable")
    masks = []
    for k in (1, 3, 5):
        m = np.ones(len(attr), bool)
        m[order[:k]] = False
        masks.append(m)
    drops = full - judge(np.vstack(masks))
    lds = spearman(heldout.astype(float) @ attr, heldout_values)
    return [*drops.tolist(), lds]


def linear_ceilings(heldout: np.ndarray, values: np.ndarray, folds: int = 10) -> tuple[float, float]:
    """The LDS no linear attribution can beat on these held-out ablations, two ways.

    In-sample: least squares fitted on the held-out ablations themselves, judged on the same
    ablations (a generous bound: it has seen the answers). Cross-validated: least squares fitted
    on nine tenths and judged on the tenth left out, the predictions pooled (what a linear
    surrogate learned from about 180 ablations reaches).
    """
    x = np.hstack([heldout.astype(float), np.ones((len(heldout), 1))])
    coef, *_ = np.linalg.lstsq(x, values, rcond=None)
    inside = spearman(x @ coef, values)
    pooled = np.empty(len(values))
    for k in range(folds):
        test = np.arange(len(values)) % folds == k
        coef, *_ = np.linalg.lstsq(x[~test], values[~test], rcond=None)
        pooled[test] = x[test] @ coef
    return inside, spearman(pooled, values)


def whylm_values(lm, text: str, question: str, answer: str, passes: int, method: str = "auto") -> np.ndarray:
    """WhyLM's sentence values (document order) at a forward-pass budget, its default method unless told."""
    from core.probes.documents.run import run_documents

    result = run_documents(
        {
            "kind": "documents",
            "document": text,
            "question": question,
            "answer": {"text": answer},
            "template": TEMPLATE,
            "passes": passes,
            "method": method,
            "check": [],
            "random_trials": 0,
        },
        lm=lm,
    )
    leaves = sorted((s for s in result.sources if s["level"] == "sentence"), key=lambda s: s["start"])
    return np.array([s["value"] for s in leaves])


def partition(text: str) -> tuple[list[str], list[str]]:
    """The sentences WhyLM attributes, and the whitespace before each (ContextCite's separators)."""
    from core.probes.documents.sources import build_tree

    tree = build_tree(text, "sentence")
    parts = [tree.source_text(n) for n in tree.leaves]
    seps, pos = [], 0
    for n in tree.leaves:
        seps.append(text[pos : tree.spans[n][0]])
        pos = tree.spans[n][1]
    return parts, seps


TIMING = r"""
import json, sys, time, torch
torch.set_num_threads(2)
sys.path.insert(0, sys.argv[1])
from core.models.loading import load_model
from core.probes.documents.run import run_documents
job = json.load(sys.stdin)
lm = load_model("default", device="cpu")
class FirstResult:
    first = None
    def __call__(self, done, total):
        pass
    def partial(self, result):
        if self.first is None:
            self.first = (time.perf_counter() - start, result["meta"]["attribution_passes"], result["summary"])
seen = FirstResult()
start, cpu = time.perf_counter(), time.process_time()
r = run_documents({"kind": "documents", "document": job["text"], "question": job["question"],
                   "answer": {"text": job["answer"]}, "passes": job["passes"]}, lm=lm, progress=seen)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                  "prompt_tokens": r.prompt_tokens, **r.meta, "first": seen.first,
                  "top": r.summary}))
"""


def timing(text: str, question: str, answer: str, passes: int) -> dict:
    """WhyLM's default run on the long document in a fresh process on two CPU threads (the model loaded first)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-c", TIMING, str(ROOT)]
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 2:
        cmd = ["taskset", "-c", "0,1", *cmd]
    done = subprocess.run(
        cmd,
        input=json.dumps({"text": text, "question": question, "answer": answer, "passes": passes}),
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        sys.exit("timing run failed:\n" + done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print the side-by-side table, then the long document's time and tokens."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20, 60, 120], help="none: only the timing")
    parser.add_argument("--passes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--no-peer", action="store_true", help="skip ContextCite")
    parser.add_argument("--no-timing", action="store_true", help="skip the 2-thread CPU timing")
    parser.add_argument("--timing-passes", type=int, default=64)
    args = parser.parse_args()
    import torch

    from core.models.loading import bundled_cache_folder, load_model

    lm = load_model("default")
    device = str(lm.device)
    threads = torch.get_num_threads()
    print(f"device {device}, torch threads {threads}")
    print(
        f"{'sent':>4} {'tok':>5} {'passes':>6} {'method':<12} {'drop@1':>7} {'drop@3':>7} {'drop@5':>7} {'LDS':>6} {'s':>6}"
    )
    for size in args.sizes:
        text, question, answer = document(size)
        parts, seps = partition(text)
        assert len(parts) == size, (size, len(parts))
        judge = Judge(lm, parts, seps, question, answer)
        rng = np.random.default_rng(12345)
        heldout = rng.random((args.heldout, size)) < 0.5
        full = float(judge(np.ones((1, size), bool))[0])
        heldout_values = judge(heldout)
        tokens = len(judge.ids(np.ones(size, bool)))
        inside, crossed = linear_ceilings(heldout, heldout_values)
        print(f"{size:>4} {tokens:>5} linear ceiling of the LDS: {inside:.3f} fitted on the held-out set itself, "
              f"{crossed:.3f} cross-validated (10 folds)", flush=True)
        peer = {}
        if not args.no_peer:
            peer = contextcite(
                str(bundled_cache_folder()), text, parts, seps, question, answer, args.passes, device, threads
            )
        for passes in args.passes:
            rows = []
            start = time.perf_counter()
            rows.append(
                ("WhyLM", whylm_values(lm, text, question, answer, passes), time.perf_counter() - start)
            )
            if peer:
                rows.append(("ContextCite", np.array(peer[str(passes)]), peer[f"seconds_{passes}"]))
            for name, attr, seconds in rows:
                d1, d3, d5, lds = judged(judge, attr, heldout, heldout_values, full)
                print(
                    f"{size:>4} {tokens:>5} {passes:>6} {name:<12} {d1:>7.2f} {d3:>7.2f} {d5:>7.2f} {lds:>6.3f} "
                    f"{seconds:>6.1f}",
                    flush=True,
                )
    if not args.no_timing:
        text, question, answer = document(120)
        load = os.getloadavg()[0]
        t = timing(text, question, answer, args.timing_passes)
        ratio = t["tokens_whole"] / t["tokens_computed"]
        print(
            f"\n120 sentences, {t['prompt_tokens']} prompt tokens, default method, {t['attribution_passes']} attribution "
            f"+ {t['forward_passes'] - t['attribution_passes']} check passes, 2 CPU threads: {t['seconds']:.1f} s "
            f"({t['cpu_seconds']:.1f} s of CPU; load average before {load:.1f}); "
            f"tokens through the model {t['tokens_computed']:,} vs {t['tokens_whole']:,} whole ({ratio:.1f}x fewer); "
            f"the attribution alone {t['attribution_tokens_computed']:,} vs {t['attribution_tokens_whole']:,} "
            f"({t['attribution_tokens_whole'] / t['attribution_tokens_computed']:.1f}x fewer)"
        )
        if t["first"]:
            print(f"  first result after {t['first'][0]:.1f} s ({t['first'][1]} passes): {t['first'][2]}")
        print("  " + t["top"])


if __name__ == "__main__":
    main()
