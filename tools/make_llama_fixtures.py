#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures for dpo-dist's Llama-family model (Tests/ModelTests/Fixtures/llama_tiny_*
and qwen2_tiny_*).

Two tiny models with fixed, deterministically perturbed weights (eager attention, float32) score the shared batch of
3 preference pairs; see tools/parity_fixtures.py for the batch layout, the loss and the files written.

  llama_tiny  transformers.LlamaForCausalLM: grouped-query attention (4 query heads, 2 key/value heads), head_dim 8
              with hidden_size 24 (so head_dim != hidden/heads), untied LM head, rope_theta 500 with "llama3" rope
              scaling whose three frequency bands (kept, interpolated, stretched) all occur, rms_norm_eps 1e-5.
  qwen2_tiny  transformers.Qwen2ForCausalLM: q/k/v biases (no o_proj bias), 6 query heads sharing 2 key/value heads,
              tied LM head, rope_theta 10000.

Run with the oracle interpreter (CPU, float32, deterministic; re-runnable, output is bit-identical):
    /tmp/oracle/venv/bin/python tools/make_llama_fixtures.py [--out Tests/ModelTests/Fixtures]
"""

import argparse
from pathlib import Path

import transformers

import parity_fixtures

VOCAB_SIZE = 61


def llama_config() -> transformers.LlamaConfig:
    return transformers.LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=24,
        intermediate_size=40,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        # head_dim 8 gives wavelengths 2π/θ^(-2i/8) ≈ 6.3, 29.7, 140, 664: with original_max_position_embeddings 64
        # and factors 1 / 4, the first is kept (< 16), the second interpolated (16..64), the others stretched (> 64).
        rope_parameters={"rope_type": "llama3", "rope_theta": 500.0, "factor": 4.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        attn_implementation="eager",
    )


def qwen2_config() -> transformers.Qwen2Config:
    return transformers.Qwen2Config(
        vocab_size=VOCAB_SIZE,
        hidden_size=24,
        intermediate_size=36,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=None,
        eos_token_id=None,
        attn_implementation="eager",
    )


def is_norm_weight(name: str) -> bool:
    return name.endswith(("input_layernorm.weight", "post_attention_layernorm.weight", "model.norm.weight"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=parity_fixtures.DEFAULT_OUT)
    out = parser.parse_args().out
    parity_fixtures.configure_torch()
    seeds = (parity_fixtures.POLICY_PERTURBATION_SEED, parity_fixtures.REFERENCE_PERTURBATION_SEED)

    config = llama_config()
    policy, reference = (parity_fixtures.make_model(transformers.LlamaForCausalLM, config, seed, is_norm_weight)
                         for seed in seeds)
    assert policy.lm_head.weight is not policy.model.embed_tokens.weight, "the Llama case has an untied LM head"
    assert policy.model.layers[0].self_attn.k_proj.weight.shape == (2 * 8, 24)
    parity_fixtures.generate(out, "llama_tiny", "Tiny Llama (GQA, untied, llama3 rope) DPO parity case", policy, reference,
                             VOCAB_SIZE, {"modelType": "llama", "configFile": "llama_tiny_config.json"})

    config = qwen2_config()
    policy, reference = (parity_fixtures.make_model(transformers.Qwen2ForCausalLM, config, seed, is_norm_weight)
                         for seed in seeds)
    assert policy.lm_head.weight is policy.model.embed_tokens.weight, "the Qwen2 case has a tied LM head"
    attention = policy.model.layers[0].self_attn
    assert attention.q_proj.bias is not None and attention.o_proj.bias is None
    parity_fixtures.generate(out, "qwen2_tiny", "Tiny Qwen2 (GQA, q/k/v biases, tied) DPO parity case", policy, reference,
                             VOCAB_SIZE, {"modelType": "qwen2", "configFile": "qwen2_tiny_config.json"})


if __name__ == "__main__":
    main()
