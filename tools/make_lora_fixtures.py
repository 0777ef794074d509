#!/usr/bin/env python3
"""Record what TRL's DPOTrainer does with a PEFT LoRA adapter on a tiny Llama, for dpo-dist's LoRA parity tests
(Tests/TrainingTests/Fixtures/lora).

The base is the tiny Llama of tools/make_llama_fixtures.py (grouped-query attention, head_dim != hidden/heads, untied
head, llama3 rope scaling) with the vocabulary of the TRL fixture's tokenizer (Tests/TrainingTests/Fixtures/trl), drawn
with transformers' own initialisation. Each run of RUNS first makes its adapter with PEFT (`get_peft_model`, lora_A
drawn at random by PEFT, lora_B zero unless the run sets `init_lora_weights: false`) and saves it; then
`PeftModel.from_pretrained(..., is_trainable=True)` loads it and TRL's DPOTrainer trains it for 10 steps on the TRL
fixture's pairs with the TRL fixture's settings (tools/make_trl_fixtures.py: TRAINING_SETTINGS, sequential order,
every step logged). As TRL 1.16 does with a loaded adapter, the reference is a frozen "ref" copy of it (the base when
lora_B is zero), and `disable_dropout` (TRL's default) also sets PEFT's LoRA dropout to 0.

Written to the fixture directory:
  model/                      the base: config.json + model.safetensors (save_pretrained)
  adapter_<run>/              the run's starting adapter as PEFT saved it (adapter_config.json with
                              base_model_name_or_path "../model", adapter_model.safetensors)
  run_<run>.json              the adapter's LoraConfig keys, and per optimizer step the pairs of each micro-batch and
                              every metric TRL logged
  final_<run>.safetensors     the trained adapter as PEFT saves it (get_peft_model_state_dict)
  peft_logits.json            for the starting adapter of `logits_run`: two unpadded rows of token ids, the logits
                              of PeftModel.from_pretrained (adapters unmerged) and the largest relative difference to
                              the same model after merge_and_unload()
  peft_logits.safetensors     those logits [2, length, vocab]

Run with the oracle interpreter (no network); `--check` trains every run twice and fails unless bit-identical:
    /tmp/oracle/venv/bin/python tools/make_lora_fixtures.py [--out DIR] [--check]
"""

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_llama_fixtures  # noqa: E402
import make_trl_fixtures as trl_fixtures  # noqa: E402
import peft  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402
from trl import DPOConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "Tests" / "TrainingTests" / "Fixtures" / "lora"
TOKENIZER = ROOT / "Tests" / "TrainingTests" / "Fixtures" / "trl" / "tokenizer"
MODEL_SEED = 4321
ADAPTER_SEED = 99
LOGITS_TOKENS = 16

# Every run: PEFT's LoraConfig keys (TRL's lora_* keys) and whether lora_B starts at zero (PEFT's default) or random.
# The first is TRL's default targets (q_proj, v_proj of every layer: two of the three blocks of our fused q|k|v) with
# dropout 0; the second adapts every Linear layer with rank-stabilized scaling, trains the LM head and the first norm
# of every block in full, starts from a non-zero adapter (so the reference is that adapter, not the base) and keeps
# TRL's default lora_dropout 0.05, which disable_dropout turns off.
RUNS = {
    "lora": {"config": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0}, "init_lora_weights": True},
    "lora_all_linear": {"config": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear",
                                   "use_rslora": True, "modules_to_save": ["lm_head", "input_layernorm"]},
                        "init_lora_weights": False},
}
LOGITS_RUN = "lora_all_linear"


def build_base(tokenizer, model_dir: Path) -> None:
    config = make_llama_fixtures.llama_config()
    config.vocab_size = len(tokenizer)
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(MODEL_SEED)
    LlamaForCausalLM(config).save_pretrained(model_dir)


def load_base(model_dir: Path) -> LlamaForCausalLM:
    return LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")


def make_adapter(model_dir: Path, adapter_dir: Path, run: str) -> None:
    """PEFT's own adapter of the run, saved with its base given relative to the adapter folder."""
    torch.manual_seed(ADAPTER_SEED)
    spec = RUNS[run]
    model = get_peft_model(load_base(model_dir), LoraConfig(task_type="CAUSAL_LM", bias="none",
                                                            init_lora_weights=spec["init_lora_weights"],
                                                            **spec["config"]))
    model.save_pretrained(adapter_dir)
    config_file = adapter_dir / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = "../model"
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (adapter_dir / "README.md").unlink(missing_ok=True)


def train(model_dir: Path, adapter_dir: Path, tokenizer):
    """TRL on the loaded adapter; returns the per-step records and the trained adapter's state dict."""
    trl_fixtures.make_deterministic()
    model = PeftModel.from_pretrained(load_base(model_dir), adapter_dir, is_trainable=True)
    with tempfile.TemporaryDirectory() as output_dir:
        args = DPOConfig(output_dir=output_dir, use_cpu=True, bf16=False, gradient_checkpointing=False,
                         report_to="none", save_strategy="no", dataloader_num_workers=0, loss_type=["sigmoid"],
                         **trl_fixtures.TRAINING_SETTINGS)
        trainer = trl_fixtures.OrderRecordingDPOTrainer(model=model, args=args, train_dataset=trl_fixtures.raw_dataset(),
                                                        processing_class=tokenizer)
        trainer.train()
    steps = trl_fixtures.step_records(trainer)
    weights = {name: tensor.detach().clone().contiguous()
               for name, tensor in get_peft_model_state_dict(trainer.model, adapter_name="default").items()}
    return steps, weights


def logits_record(model_dir: Path, adapter_dir: Path, tokenizer) -> tuple[dict, torch.Tensor]:
    """PEFT's logits of two unpadded rows with the adapter loaded, and how far merging moves them."""
    rows = [tokenizer(prompt + chosen)["input_ids"][:LOGITS_TOKENS] for prompt, chosen, _ in trl_fixtures.PAIRS[:4]]
    rows = [row for row in rows if len(row) == LOGITS_TOKENS][:2]
    ids = torch.tensor(rows)
    model = PeftModel.from_pretrained(load_base(model_dir), adapter_dir).eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        merged = model.merge_and_unload()(input_ids=ids).logits
    difference = ((merged - logits).abs().max() / logits.abs().max()).item()
    return {"input_ids": rows, "merged_max_relative_difference": difference,
            "versions": {**trl_fixtures.versions(), "peft": peft.__version__}}, logits.contiguous()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="train every run twice and require identical results")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    trl_fixtures.datasets.disable_progress_bars()
    trl_fixtures.datasets.disable_caching()
    trl_fixtures.make_deterministic()

    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(TOKENIZER)
    build_base(tokenizer, out / "model")
    (out / "model" / "generation_config.json").unlink(missing_ok=True)
    for name in RUNS:
        adapter_dir = out / f"adapter_{name}"
        make_adapter(out / "model", adapter_dir, name)
        steps, weights = train(out / "model", adapter_dir, tokenizer)
        if args.check:
            again = train(out / "model", adapter_dir, tokenizer)
            if again[0] != steps or any(not torch.equal(weights[key], again[1][key]) for key in weights):
                raise SystemExit(f"{name}: a rerun gave different numbers")
            print(f"{name}: rerun is bit-identical")
        trl_fixtures.write_json(out / f"run_{name}.json", {"settings": RUNS[name], "steps": steps})
        safetensors.torch.save_file(weights, str(out / f"final_{name}.safetensors"), metadata={"format": "pt"})
        print(f"{name}: trained")
    record, logits = logits_record(out / "model", out / f"adapter_{LOGITS_RUN}", tokenizer)
    trl_fixtures.write_json(out / "peft_logits.json", {"run": LOGITS_RUN, **record})
    safetensors.torch.save_file({"logits": logits}, str(out / "peft_logits.safetensors"))
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    print(f"wrote {out} ({total / 1024:.0f} KiB); PEFT merged vs unmerged logits: {record['merged_max_relative_difference']:.1e}")


if __name__ == "__main__":
    main()
