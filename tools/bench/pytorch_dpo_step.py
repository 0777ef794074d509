#!/usr/bin/env python3
"""Times one DPO optimizer step in PyTorch on a randomly initialised GPT-2-architecture model.

The step is what TRL's DPOTrainer does per optimizer update with the sigmoid loss: the policy scores the
concatenated chosen+rejected rows (forward + backward), the frozen reference scores them under no_grad, the loss is
-log σ(β·((π_c − ref_c) − (π_r − ref_r))) averaged over pairs, gradients are clipped to norm 1 and AdamW steps.
Every sequence is `--prompt` prompt tokens followed by completion tokens up to `--length`; only completion tokens are
scored. Prints one JSON object: the median and every step's wall and CPU seconds, tokens/s and peak RSS.

Usage: pytorch_dpo_step.py --shape gpt2-124m|small --threads 1 --steps 5 [--warmup 1]
"""
import argparse
import os
import json
import resource
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

# name: (vocab, width, layers, heads, pairs, length, prompt) — the same table as dpo-dist's `bench --shape`.
SHAPES = {
    "gpt2-124m": dict(vocab=50257, width=768, layers=12, heads=12, pairs=2, length=256, prompt=64),
    "small": dict(vocab=8192, width=256, layers=4, heads=4, pairs=4, length=128, prompt=32),
}


def sequence_log_probs(model, tokens, score_mask):
    """Σ over scored tokens of log p(token_t | tokens_<t), per row (TRL's concatenated_forward, sum reduction)."""
    logits = model(tokens).logits[:, :-1, :]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    picked = torch.gather(log_probs, 2, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (picked * score_mask[:, 1:]).sum(-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--beta", type=float, default=0.1)
    args = parser.parse_args()
    shape = SHAPES[args.shape]

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=shape["vocab"], n_positions=max(1024, shape["length"]), n_embd=shape["width"],
                        n_layer=shape["layers"], n_head=shape["heads"],
                        bos_token_id=shape["vocab"] - 1, eos_token_id=shape["vocab"] - 1,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # TRL disables dropout by default
    policy = GPT2LMHeadModel(config)
    reference = GPT2LMHeadModel(config)
    reference.load_state_dict(policy.state_dict())
    reference.eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-5, weight_decay=0.0)

    rows, length = 2 * shape["pairs"], shape["length"]  # rows 0..<pairs chosen, pairs..<2·pairs rejected
    tokens = torch.randint(0, shape["vocab"], (rows, length))
    score_mask = torch.zeros(rows, length)
    score_mask[:, shape["prompt"]:] = 1

    def step():
        with torch.no_grad():
            reference_scores = sequence_log_probs(reference, tokens, score_mask)
        policy_scores = sequence_log_probs(policy, tokens, score_mask)
        pairs = shape["pairs"]
        margin = (policy_scores[:pairs] - reference_scores[:pairs]) - (policy_scores[pairs:] - reference_scores[pairs:])
        loss = -torch.nn.functional.logsigmoid(args.beta * margin).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    wall, cpu = [], []
    for index in range(args.warmup + args.steps):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        step()
        if index >= args.warmup:
            wall.append(time.perf_counter() - wall_start)
            cpu.append(time.process_time() - cpu_start)

    median_wall = statistics.median(wall)
    print(json.dumps({
        "implementation": "pytorch", "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", "default"),
        "shape": args.shape, "threads": args.threads, "tokens_per_step": rows * length,
        "median_step_seconds": median_wall, "median_cpu_seconds": statistics.median(cpu),
        "tokens_per_second": rows * length / median_wall, "step_seconds": wall, "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
