"""Writes Tests/CheckpointTests/Fixtures/sharded/: a tiny GPT-2 saved by transformers' save_pretrained with a small
max_shard_size, so its weights are split over several model-0000k-of-0000n.safetensors files plus
model.safetensors.index.json, exactly as large Hugging Face checkpoints are. Also writes expected.json with each
tensor's shape and the sum of its values, which the Swift test compares against.
Run with the reference environment:  python tools/make_sharded_fixture.py
"""
import json
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

out = Path(__file__).resolve().parent.parent / "Tests/CheckpointTests/Fixtures/sharded"
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("*"):
    old.unlink()

torch.manual_seed(0)
config = GPT2Config(vocab_size=32, n_positions=8, n_embd=8, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(config).eval()
model.save_pretrained(out, max_shard_size="2KB", safe_serialization=True)
(out / "config.json").unlink()
(out / "generation_config.json").unlink(missing_ok=True)

state = {name: tensor for name, tensor in model.state_dict().items() if name != "lm_head.weight"}
expected = {name: {"shape": list(t.shape), "sum": float(t.double().sum())} for name, t in state.items()}
(out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
for path in sorted(out.iterdir()):
    print(f"wrote {path.relative_to(out.parent.parent.parent.parent)} ({path.stat().st_size} bytes)")
