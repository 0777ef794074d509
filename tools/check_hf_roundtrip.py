"""Checks that model folders written by dpo-dist load back in Hugging Face transformers.

For a tiny GPT-2, a Llama (grouped-query attention, untied head) and a Qwen2 (q/k/v biases), each with a real-format
tokenizer from Tests/TokenizerFixtures/Fixtures/tokenizers, this script
  1. saves a random model with `save_pretrained` together with the tokenizer files;
  2. runs `dpo-dist train --model_name_or_path` on it with learning_rate 0 (the weights must come back unchanged)
     and checks that transformers gives bit-identical logits for the saved folder and the original one;
  3. runs 2 real optimizer steps and checks that `AutoModelForCausalLM` loads the result with no missing or unexpected
     keys, that `AutoTokenizer` loads too, and that the checkpoint folder does as well;
  4. reports the largest logit difference it saw.
Run after `swift build -c release`:   python tools/check_hf_roundtrip.py [--binary .build/release/dpo-dist]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, LlamaConfig, Qwen2Config

REPO = Path(__file__).resolve().parent.parent
TOKENIZERS = REPO / "Tests/TokenizerFixtures/Fixtures/tokenizers"
PAIRS = [
    {"prompt": "Q: Is the Sun a star?\nA:", "chosen": " Yes, the Sun is a star.", "rejected": " No, it is a planet."},
    {"prompt": "Q: How many days are in a week?\nA:", "chosen": " Seven.", "rejected": " Twelve."},
    {"prompt": "Q: Does ice float on water?\nA:", "chosen": " Yes, it floats.", "rejected": " No, it sinks."},
    {"prompt": "Q: Is 7 a prime number?\nA:", "chosen": " Yes.", "rejected": " No, 7 = 2 x 4."},
]


def configs(vocab_size):
    return {
        "gpt2": GPT2Config(vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                           bos_token_id=0, eos_token_id=0),
        "llama3": LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                              rope_theta=500000.0, tie_word_embeddings=False),
        "qwen2": Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             tie_word_embeddings=True),
    }


def logits(folder, text):
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


def run(binary, model_dir, output, work, steps, learning_rate):
    config = work / "run.yaml"
    config.write_text(f"train_dataset: {work / 'pairs.jsonl'}\nmax_length: 48\nlogging_steps: 1\nthreads: 1\n"
                      "per_device_train_batch_size: 2\nsave_steps: 1\n")
    command = [str(binary), "train", "--config", str(config), "--model_name_or_path", str(model_dir),
               "--output_dir", str(output), "--max_steps", str(steps), "--learning_rate", str(learning_rate)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dpo-dist failed on {model_dir.name}:\n{result.stderr}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build/release/dpo-dist"))
    binary = Path(parser.parse_args().binary)
    torch.manual_seed(0)
    worst = 0.0
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        (work / "pairs.jsonl").write_text("".join(json.dumps(pair) + "\n" for pair in PAIRS))
        for family in ["gpt2", "llama3", "qwen2"]:
            tokenizer_dir = TOKENIZERS / family
            vocab = len(json.loads((tokenizer_dir / "tokenizer.json").read_text())["model"]["vocab"])
            vocab += len(json.loads((tokenizer_dir / "tokenizer.json").read_text())["added_tokens"])
            source = work / f"{family}-source"
            model_class = AutoModelForCausalLM.from_config(configs(vocab)[family])
            model_class.save_pretrained(source, safe_serialization=True)
            for file in tokenizer_dir.iterdir():
                shutil.copy(file, source / file.name)

            unchanged = work / f"{family}-lr0"
            run(binary, source, unchanged, work, steps=1, learning_rate=0)
            text = PAIRS[0]["prompt"] + PAIRS[0]["chosen"]
            difference = (logits(unchanged, text) - logits(source, text)).abs().max().item()
            if difference != 0:
                sys.exit(f"{family}: logits of the saved folder differ from the original by {difference}")

            trained = work / f"{family}-trained"
            run(binary, source, trained, work, steps=2, learning_rate=1e-3)
            for folder in [trained, trained / "checkpoint-1"]:
                model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
                problems = {key: value for key, value in info.items() if value and key != "error_msgs"}
                if problems or info.get("error_msgs"):
                    sys.exit(f"{family}: {folder.name} loads with {info}")
                AutoTokenizer.from_pretrained(folder)
            moved = (logits(trained, text) - logits(source, text)).abs().max().item()
            if moved == 0:
                sys.exit(f"{family}: two training steps did not change the logits")
            print(f"{family}: saved folder reloads with identical logits; trained folder and checkpoint load "
                  f"(logits moved by {moved:.3g})")
            worst = max(worst, difference)
    print(f"all families round-trip; largest logit difference at learning rate 0: {worst}")


if __name__ == "__main__":
    main()
