#!/usr/bin/env python3
"""Record what TRL's DPOTrainer does on a tiny model, for dpo-dist's TRL parity tests (Tests/TrainingTests/Fixtures/trl).

Everything is built here, offline: a byte-level BPE tokenizer trained with `tokenizers` on the pairs below (GPT-2
style: `<|endoftext|>` is BOS, EOS and pad, and nothing is added around the text), a randomly initialised 2-layer,
32-wide GPT2LMHeadModel, and 24 standard-format pairs of varied lengths. Some pairs are longer than `max_length` (the
collator cuts them), one has a prompt that alone fills `max_length` (TRL drops it), some prompts end in a space
(BPE merges it into the completion's first token, so TRL's common-prefix rule moves it out of the prompt) and one
chosen text already ends with the EOS text (TRL does not add a second one).

DPOTrainer then trains on CPU in float32 for 10 optimizer steps (2 pairs per micro-batch, 2 micro-batches per step,
sequential sampling, every step logged), once for each run of RUNS: the loss types sigmoid, ipo and hinge, then the
other loss types and the loss options (f-divergences, LD-DPO, WPO, a precomputed reference), each changing a few
DPOConfig keys of the same setup.

Written to the fixture directory:
  tokenizer/                    tokenizer.json and tokenizer_config.json (PreTrainedTokenizerFast.save_pretrained)
  model/                        initial weights: config.json + model.safetensors (save_pretrained; also the reference)
  pairs.jsonl                   the raw pairs, one {"prompt", "chosen", "rejected"} per line
  tokenized.json                TRL's prompt_ids/chosen_ids/rejected_ids of every kept pair (before the collator's
                                truncation), which rows were dropped, and the DPOConfig values of the runs
  initial_logps.json            at the initial weights: every kept pair's summed chosen/rejected completion log-probs
                                (TRL's own reference forward), and one collated batch in full (input_ids,
                                attention_mask, completion_mask, per-token log-probs)
  run_<name>.json               the run's DPOConfig keys beyond TRAINING_SETTINGS (`settings`) and per optimizer
                                step: the pairs of each micro-batch in order (raw row numbers in pairs.jsonl) and
                                every metric TRL logged
  final_<loss>.safetensors      the policy weights after the 10 steps (same tensor names as model/), for the runs of
                                LOSS_TYPES only, to keep the fixtures small (the other runs are compared by their logs)

Example order: each raw row carries an `example_index` column that survives TRL's preprocessing; a collator wrapper
returns it with the batch and `compute_loss` takes it out before TRL sees the batch, recording it under the optimizer
step being accumulated. So the recorded order is exactly what each micro-batch consumed.

Run with the oracle interpreter (no network). `--check` trains every run a second time and fails unless the logs and
final weights are bit-identical:
    /tmp/oracle/venv/bin/python tools/make_trl_fixtures.py [--out DIR] [--check] [--runs NAME ...]
`--runs` trains only the named runs of RUNS, into the fixture directory that is already in DIR (its model and
tokenizer), and leaves every other file as it is: a new run joins the fixtures without rewriting the old ones, whose
last digits depend on the CPU that made them (another CPU's torch kernels round differently, about 1e-7 relative).
`--compare-two-processes` writes nothing: it trains the sigmoid run under `torchrun --nproc_per_node 2` (gloo) with one
pair per process and micro-batch, and prints per step how far its logs are from the 1-process fixture in DIR.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import datasets  # noqa: E402
import safetensors.torch  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402
from transformers.trainer_callback import PrinterCallback, ProgressCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "Tests" / "TrainingTests" / "Fixtures" / "trl"

SPECIAL_TOKEN = "<|endoftext|>"
VOCAB_SIZE = 320
MAX_LENGTH = 40
MODEL_SHAPE = dict(n_layer=2, n_head=2, n_embd=32, n_positions=64)
MODEL_SEED = 1234
LOSS_TYPES = ("sigmoid", "ipo", "hinge")
# Every run: its name (run_<name>.json) and the DPOConfig keys it sets besides TRAINING_SETTINGS. Non-default option
# values exercise their key: label smoothing for the aot losses, a τ other than the default for discopop. WPO is run
# without sft: TRL 1.16 scales sft's expanded batch loss in place there and stops with a RuntimeError.
RUNS = {
    **{loss_type: {"loss_type": [loss_type]} for loss_type in LOSS_TYPES},
    "sigmoid_norm": {"loss_type": ["sigmoid_norm"]},
    "bco_pair": {"loss_type": ["bco_pair"]},
    "aot": {"loss_type": ["aot"], "label_smoothing": 0.1},
    "aot_unpaired": {"loss_type": ["aot_unpaired"], "label_smoothing": 0.1},
    "discopop": {"loss_type": ["discopop"], "discopop_tau": 0.2},
    "forward_kl": {"loss_type": ["sigmoid"], "f_divergence_type": "forward_kl"},
    "js_divergence": {"loss_type": ["ipo"], "f_divergence_type": "js_divergence"},
    "alpha_divergence": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5],
                         "f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.3},
    "ld_alpha": {"loss_type": ["sigmoid", "sft"], "ld_alpha": 0.5},
    "use_weighting": {"loss_type": ["sigmoid", "ipo"], "loss_weights": [1.0, 0.1], "use_weighting": True},
    "precomputed_ld_alpha": {"loss_type": ["sigmoid"], "ld_alpha": 0.3, "precompute_ref_log_probs": True,
                             "precompute_ref_batch_size": 3},
}
INITIAL_LOGPS_BATCH_SIZE = 4

# Settings of every run. Non-default values are chosen to exercise something: a learning rate large enough to move a
# tiny model in 10 steps, warmup and weight decay so the schedule and the decay groups matter, and `max_grad_norm` so
# that clipping happens. bf16 and gradient checkpointing default to True in TRL and must be off for a float32 CPU run.
TRAINING_SETTINGS = dict(
    per_device_train_batch_size=2,
    gradient_accumulation_steps=2,
    max_steps=10,
    logging_steps=1,
    learning_rate=2e-3,
    lr_scheduler_type="linear",
    warmup_steps=2,
    weight_decay=0.1,
    max_grad_norm=1.0,
    beta=0.1,
    max_length=MAX_LENGTH,
    seed=42,
    train_sampling_strategy="sequential",
)

# Raw pairs. Row 7's prompt alone is longer than MAX_LENGTH tokens; rows 3, 12 and 20 have completions that run past
# MAX_LENGTH; rows 5 and 16 end the prompt in a space; row 9's chosen text already ends with the EOS text.
PAIRS = [
    ("Q: What color is a clear sky?\nA:", " Blue.", " Green, like grass."),
    ("Q: How many legs does a cat have?\nA:", " Four.", " Seven, if you count the tail twice."),
    ("Q: Is ice cold?\nA:", " Yes, ice is cold.", " No."),
    ("Q: Tell me about the sea.\nA:",
     " The sea is large and salty. It covers most of the planet, and many animals live in it, from tiny plankton"
     " to great whales that sing.",
     " The sea is a small pond."),
    ("Q: What is two plus two?\nA:", " Four.", " Five."),
    ("Q: Which is heavier, a stone or a feather? A: ", "The stone.", "The feather, of course."),
    ("Q: Do fish swim?\nA:", " Yes.", " No, fish walk on land and climb trees every morning."),
    ("Q: Read this long story first. Once upon a time a small cat lived by the sea, and every day the cat watched the"
     " boats come in, counted the fish, and told the birds what the sea was like today. Now: is the sea blue?\nA:",
     " Yes.", " No."),
    ("Q: What do bees make?\nA:", " Honey.", " Stones."),
    ("Q: Where does the sun rise?\nA:", " In the east." + SPECIAL_TOKEN, " In the west."),
    ("Q: Is the moon made of cheese?\nA:", " No, it is rock.", " Yes, it is cheese."),
    ("Q: What do cows drink?\nA:", " Water.", " Milk, they drink milk all day."),
    ("Q: Describe a tree.\nA:",
     " A tree has roots, a trunk, branches and leaves. In spring the leaves are green, and in the autumn they turn red"
     " and gold before they fall.",
     " A tree is a kind of fish that lives in the sea and sings to the whales at night."),
    ("Q: Can birds fly?\nA:", " Most birds can fly.", " No bird can fly."),
    ("Q: Is fire hot?\nA:", " Yes, fire is hot.", " No, fire is cold as ice."),
    ("Q: How many days are in a week?\nA:", " Seven.", " Ten."),
    ("Q: What is the color of grass? A: ", "Green.", "Blue, like the sky."),
    ("Q: Do cats bark?\nA:", " No, cats meow.", " Yes."),
    ("Q: What falls from clouds?\nA:", " Rain.", " Cheese."),
    ("Q: Is the sea salty?\nA:", " Yes, the sea is salty.", " No, it is sweet like honey."),
    ("Q: Tell me about bees.\nA:",
     " Bees live in a hive, make honey from flowers, and dance to tell the other bees where the flowers are.",
     " Bees are large animals."),
    ("Q: What is one plus one?\nA:", " Two.", " Eleven."),
    ("Q: Do trees have leaves?\nA:", " Most trees have leaves.", " Trees never have leaves."),
    ("Q: Is the sun a star?\nA:", " Yes, the sun is a star.", " No, the sun is a moon."),
]


def make_deterministic():
    """One thread and deterministic kernels, so that a rerun gives bit-identical numbers."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A GPT-2 style byte-level BPE trained on the pairs: no normalizer, no BOS added, `<|endoftext|>` as id 0."""
    bpe = tokenizers.Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[SPECIAL_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = [text.replace(SPECIAL_TOKEN, "") for pair in PAIRS for text in pair]
    bpe.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=SPECIAL_TOKEN, eos_token=SPECIAL_TOKEN,
                                   unk_token=SPECIAL_TOKEN, pad_token=SPECIAL_TOKEN)


def build_model(tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """A random GPT-2 with the library's own initialisation. Dropout stays at its config default: TRL turns it off."""
    torch.manual_seed(MODEL_SEED)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **MODEL_SHAPE)
    return GPT2LMHeadModel(config)


def raw_dataset() -> datasets.Dataset:
    return datasets.Dataset.from_dict({
        "prompt": [p for p, _, _ in PAIRS],
        "chosen": [c for _, c, _ in PAIRS],
        "rejected": [r for _, _, r in PAIRS],
        "example_index": list(range(len(PAIRS))),
    })


class IndexCarryingCollator:
    """Wraps TRL's collator and adds the batch's raw row numbers as `example_index`."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, examples):
        batch = self.collator(examples)
        batch["example_index"] = torch.tensor([example["example_index"] for example in examples])
        return batch


class OrderRecordingDPOTrainer(DPOTrainer):
    """DPOTrainer that keeps the `example_index` column and records which rows each training micro-batch used."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.remove_callback(PrinterCallback)
        self.remove_callback(ProgressCallback)
        self.data_collator = IndexCarryingCollator(self.data_collator)
        self.micro_batches = []  # (optimizer step being accumulated, 1-based; raw row numbers)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "example_index" not in self._signature_columns:
            self._signature_columns.append("example_index")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        rows = inputs.pop("example_index").tolist()
        if model.training:
            self.micro_batches.append((self.state.global_step + 1, rows))
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def dpo_config(output_dir: str, run: str) -> DPOConfig:
    return DPOConfig(output_dir=output_dir, use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none",
                     save_strategy="no", dataloader_num_workers=0, **TRAINING_SETTINGS, **RUNS[run])


def make_trainer(model_dir: Path, tokenizer, run: str, output_dir: str) -> OrderRecordingDPOTrainer:
    model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32)
    return OrderRecordingDPOTrainer(model=model, args=dpo_config(output_dir, run), train_dataset=raw_dataset(),
                                    processing_class=tokenizer)


def train(model_dir: Path, tokenizer, run: str):
    """Trains one run; returns its per-step records, the train_loss summary and the final state dict."""
    make_deterministic()
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = make_trainer(model_dir, tokenizer, run, output_dir)
        result = trainer.train()
    weights = {name: tensor.detach().clone() for name, tensor in trainer.model.state_dict().items()}
    return step_records(trainer), result.training_loss, weights


def step_records(trainer: OrderRecordingDPOTrainer) -> list:
    """Per optimizer step of a finished run: its micro-batches' raw row numbers and every metric TRL logged."""
    logs = {entry["step"]: entry for entry in trainer.state.log_history if "loss" in entry}
    steps = []
    for step in sorted(logs):
        metrics = {key: value for key, value in logs[step].items() if key != "step"}
        rows = [batch for batch_step, batch in trainer.micro_batches if batch_step == step]
        steps.append({"step": step, "micro_batches": rows, "logs": metrics})
    return steps


def tokenized_record(model_dir: Path, tokenizer) -> dict:
    """TRL's preprocessing of the raw pairs, plus the DPOConfig values the runs use."""
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = make_trainer(model_dir, tokenizer, "sigmoid", output_dir)
    kept = trainer.train_dataset
    kept_rows = kept["example_index"]
    args = trainer.args
    return {
        "versions": versions(),
        "tokenizer": {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                      "pad_token_id": tokenizer.pad_token_id, "vocab_size": len(tokenizer)},
        "config": {**TRAINING_SETTINGS, "loss_types": list(LOSS_TYPES), "truncation_mode": args.truncation_mode,
                   "adam_beta1": args.adam_beta1, "adam_beta2": args.adam_beta2, "adam_epsilon": args.adam_epsilon,
                   "optim": str(args.optim.value), "bf16": args.bf16, "disable_dropout": args.disable_dropout,
                   "num_train_epochs": args.num_train_epochs, "pad_to_multiple_of": args.pad_to_multiple_of},
        "raw_rows": len(PAIRS),
        "dropped_rows": [row for row in range(len(PAIRS)) if row not in set(kept_rows)],
        "pairs": [{"row": row, "prompt_ids": p, "chosen_ids": c, "rejected_ids": r}
                  for row, p, c, r in zip(kept_rows, kept["prompt_ids"], kept["chosen_ids"], kept["rejected_ids"])],
    }


def initial_logps_record(model_dir: Path, tokenizer) -> dict:
    """Summed completion log-probs of every kept pair at the initial weights, through TRL's reference forward."""
    make_deterministic()
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = make_trainer(model_dir, tokenizer, "sigmoid", output_dir)
    kept = trainer.train_dataset
    columns = ("prompt_ids", "chosen_ids", "rejected_ids")
    examples = [{column: kept[i][column] for column in columns} for i in range(len(kept))]
    collator = trainer.data_collator.collator
    pairs, first_batch = [], None
    for start in range(0, len(examples), INITIAL_LOGPS_BATCH_SIZE):
        batch = collator(examples[start:start + INITIAL_LOGPS_BATCH_SIZE])
        chosen, rejected = trainer.compute_ref_log_probs(trainer.ref_model, batch)
        rows = kept["example_index"][start:start + INITIAL_LOGPS_BATCH_SIZE]
        pairs += [{"row": row, "chosen_logp": c, "rejected_logp": r}
                  for row, c, r in zip(rows, chosen.tolist(), rejected.tolist())]
        if first_batch is None:
            first_batch = {"rows": rows, **{key: value.tolist() for key, value in batch.items()},
                           "per_token_logps": per_token_logps(trainer.ref_model, batch).tolist()}
    return {"batch_size": INITIAL_LOGPS_BATCH_SIZE, "pairs": pairs, "first_batch": first_batch}


def per_token_logps(model, batch) -> torch.Tensor:
    """Log-prob of each next token, [rows, length − 1], zero off the completion (TRL's fused head, as in training)."""
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    with torch.no_grad():
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
                        fused_lm_head=True, use_cache=False)
    return outputs.log_probs


def versions() -> dict:
    return {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
            "tokenizers": tokenizers.__version__, "datasets": datasets.__version__, "python": platform.python_version()}


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n")


def assert_identical(run: str, first, second) -> None:
    (steps_a, loss_a, weights_a), (steps_b, loss_b, weights_b) = first, second
    if steps_a != steps_b or loss_a != loss_b:
        raise SystemExit(f"{run}: a rerun logged different numbers")
    for name, tensor in weights_a.items():
        if not torch.equal(tensor, weights_b[name]):
            raise SystemExit(f"{run}: a rerun ended with different weights in {name}")
    print(f"{run}: rerun is bit-identical")


def compare_two_processes(out: Path) -> None:
    """Runs the sigmoid fixture's training on 2 processes and prints the largest relative log difference per step."""
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "two_processes.json"
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", __file__,
                        "--out", str(out), "--two-process-worker", str(result)], check=True)
        two = json.loads(result.read_text())
    one = json.loads((out / "run_sigmoid.json").read_text())["steps"]
    for single, double in zip(one, two):
        worst = max(abs(value - double["logs"][key]) / max(abs(value), 1e-12)
                    for key, value in single["logs"].items())
        print(f"step {single['step']}: 1 process {single['micro_batches']}, rank 0 {double['micro_batches']}, "
              f"largest relative difference {worst:.1e}")


def two_process_worker(out: Path, result: Path) -> None:
    """One rank of `compare_two_processes`: half the per-process batch, so the global micro-batch is unchanged."""
    TRAINING_SETTINGS["per_device_train_batch_size"] //= 2
    tokenizer = PreTrainedTokenizerFast.from_pretrained(out / "tokenizer")
    steps, _, _ = train(out / "model", tokenizer, "sigmoid")
    if int(os.environ["RANK"]) == 0:
        write_json(result, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="train every run twice and require identical results")
    parser.add_argument("--compare-two-processes", action="store_true",
                        help="compare a 2-process run with the fixture in --out instead of writing fixtures")
    parser.add_argument("--two-process-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), help="train only these runs into the existing --out")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    datasets.disable_caching()
    make_deterministic()
    if args.compare_two_processes:
        return compare_two_processes(args.out)
    if args.two_process_worker:
        return two_process_worker(args.out, args.two_process_worker)

    out = args.out
    model_dir = out / "model"
    if args.runs:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(out / "tokenizer")
    else:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        tokenizer = build_tokenizer()
        tokenizer.save_pretrained(out / "tokenizer")
        build_model(tokenizer).save_pretrained(model_dir)
        with open(out / "pairs.jsonl", "w") as file:
            for prompt, chosen, rejected in PAIRS:
                file.write(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")
        write_json(out / "tokenized.json", tokenized_record(model_dir, tokenizer))
        write_json(out / "initial_logps.json", initial_logps_record(model_dir, tokenizer))
    for name in args.runs or RUNS:
        run = train(model_dir, tokenizer, name)
        if args.check:
            assert_identical(name, run, train(model_dir, tokenizer, name))
        steps, training_loss, weights = run
        write_json(out / f"run_{name}.json", {"settings": RUNS[name], "train_loss": training_loss, "steps": steps})
        if name in LOSS_TYPES:
            tied = {key for key in weights if key == "lm_head.weight"}
            safetensors.torch.save_file({key: t.contiguous() for key, t in weights.items() if key not in tied},
                                        str(out / f"final_{name}.safetensors"))
        print(f"{name}: trained")
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    print(f"wrote {out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
