"""Checks that LoRA adapters dpo-dist trains load in PEFT and give dpo-dist's merged model's logits.

For the tiny Llama of Tests/TrainingTests/Fixtures/lora (every Linear layer adapted, rank-stabilized, LM head and input
norms trained in full) and the tiny GPT-2 of Tests/TrainingTests/Fixtures/trl (PEFT's default c_attn, Conv1D weights),
this script
  1. runs `dpo-dist train` for 10 steps with LoRA (the Llama from PEFT's own starting adapter, the GPT-2 with
     `use_peft`), which writes a PEFT adapter folder as the final output;
  2. loads that folder with `PeftModel.from_pretrained`, checks that the loaded adapter is the file's, tensor for
     tensor, and computes logits;
  3. runs `dpo-dist merge` on it and loads the merged folder with `AutoModelForCausalLM`;
  4. prints, per model, the largest logit difference of PEFT's unmerged model against dpo-dist's merged one, relative
     to the largest logit, and fails above 1e-5.
Run after `swift build -c release` with the oracle interpreter:
    /tmp/oracle/venv/bin/python tools/check_peft_adapter.py [--binary .build/release/dpo-dist]
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests/TrainingTests/Fixtures"
SETTINGS = ["--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--max_steps", "10",
            "--learning_rate", "2e-3", "--max_length", "40", "--save_steps", "0", "--threads", "1",
            "--train_sampling_strategy", "sequential"]


def workspace(scratch: Path, name: str) -> tuple[Path, list[str]]:
    """The base folder (weights and tokenizer) and the run's model arguments."""
    model = scratch / name / "model"
    shutil.copytree(FIXTURES / ("lora/model" if name == "llama" else "trl/model"), model)
    for file in (FIXTURES / "trl/tokenizer").iterdir():
        shutil.copy(file, model / file.name)
    if name == "llama":
        adapter = scratch / name / "adapter"
        shutil.copytree(FIXTURES / "lora/adapter_lora_all_linear", adapter)
        return model, ["--model_name_or_path", str(adapter)]
    return model, ["--model_name_or_path", str(model), "--use_peft", "true", "--lora_r", "8"]


def check(binary: str, scratch: Path, name: str) -> float:
    model, arguments = workspace(scratch, name)
    output, merged = scratch / name / "out", scratch / name / "merged"
    subprocess.run([binary, "train", *arguments, "--train_dataset", str(FIXTURES / "trl/pairs.jsonl"),
                    "--output_dir", str(output), *SETTINGS], check=True, capture_output=True)
    subprocess.run([binary, "merge", "--adapter", str(output), "--output", str(merged)], check=True, capture_output=True)
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="eager")
    peft_model = PeftModel.from_pretrained(base, output).eval()
    # Every tensor of the file reached the model, and the model has no adapter tensor the file lacks.
    loaded, saved = get_peft_model_state_dict(peft_model), load_file(output / "adapter_model.safetensors")
    if sorted(loaded) != sorted(saved) or any(not torch.equal(loaded[key], saved[key]) for key in saved):
        raise SystemExit(f"{name}: PEFT did not load every tensor of {output} as saved")
    ours = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.randint(1, base.config.vocab_size, (3, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, actual = peft_model(input_ids=ids).logits, ours(input_ids=ids).logits
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=str(REPO / ".build/release/dpo-dist"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("llama", "gpt2"):
            difference = check(args.binary, Path(scratch), name)
            print(f"{name}: PEFT's logits of dpo-dist's adapter vs dpo-dist's merged model: {difference:.1e} relative")
            worst = max(worst, difference)
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    main()
