#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures for dpo-dist's GPT-2 (Tests/ModelTests/Fixtures/gpt2_tiny_*).

A tiny GPT-2 (transformers.GPT2LMHeadModel, eager attention, no dropout, tied LM head) with fixed,
deterministically perturbed weights scores the shared batch of 3 preference pairs; see tools/parity_fixtures.py
for the batch layout, the loss and the files written.

Run with the oracle interpreter (CPU, float32, deterministic; re-runnable, output is bit-identical):
    /tmp/oracle/venv/bin/python tools/make_gpt2_fixtures.py [--out Tests/ModelTests/Fixtures]
"""

import argparse
from pathlib import Path

import transformers

import parity_fixtures

VOCAB_SIZE = 61
MAX_POSITIONS = 24
CHANNELS = 16
LAYERS = 2
HEADS = 4
LAYER_NORM_EPSILON = 1e-5


def make_config() -> transformers.GPT2Config:
    return transformers.GPT2Config(
        vocab_size=VOCAB_SIZE,
        n_positions=MAX_POSITIONS,
        n_embd=CHANNELS,
        n_layer=LAYERS,
        n_head=HEADS,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        summary_first_dropout=0.0,
        layer_norm_epsilon=LAYER_NORM_EPSILON,
        tie_word_embeddings=True,
        bos_token_id=None,  # GPT-2's 50256 is outside this vocabulary; no special tokens are needed
        eos_token_id=None,
        attn_implementation="eager",
    )


def is_norm_weight(name: str) -> bool:
    return name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=parity_fixtures.DEFAULT_OUT)
    out = parser.parse_args().out
    parity_fixtures.configure_torch()

    config = make_config()
    policy, reference = (parity_fixtures.make_model(transformers.GPT2LMHeadModel, config, seed, is_norm_weight)
                         for seed in (parity_fixtures.POLICY_PERTURBATION_SEED, parity_fixtures.REFERENCE_PERTURBATION_SEED))
    assert policy.lm_head.weight is policy.transformer.wte.weight, "LM head must be tied to wte"
    summary = {
        "vocabSize": VOCAB_SIZE, "maxPositions": MAX_POSITIONS, "layers": LAYERS, "heads": HEADS,
        "channels": CHANNELS, "layerNormEpsilon": LAYER_NORM_EPSILON,
        "activation": "gelu_new", "tiedEmbeddings": True,
    }
    parity_fixtures.generate(out, "gpt2_tiny", "Tiny GPT-2 DPO parity case", policy, reference, VOCAB_SIZE, summary)


if __name__ == "__main__":
    main()
