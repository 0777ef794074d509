#!/usr/bin/env python3
"""Record what transformers' `generate` and logits processors produce, for dpo-dist's generation tests.

Written:
  Tests/GenerationTests/Fixtures/greedy_generation.json
      Greedy `model.generate` (do_sample=False, KV cache, float32, eager attention) of the tiny GPT-2, Llama and Qwen2
      parity models (Tests/ModelTests/Fixtures/<model>_config.json + <model>_policy.safetensors, made by
      tools/make_gpt2_fixtures.py and tools/make_llama_fixtures.py) on a few prompts of token ids: plain, with a
      repetition penalty, and with an EOS id the plain run generates (so it stops there). Each case records the
      prompt ids, the generated ids (without the prompt) and the smallest gap between the best and second-best
      processed score over its steps, which is asserted to be far above float32 rounding so the ids cannot flip.
  Tests/GenerationTests/Fixtures/logits_processors.json
      transformers' RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper and
      the chain `generate` builds for sampling (in its order), each applied to seeded random scores; removed entries
      (-inf) are written as null.
  Tests/TrainingTests/Fixtures/trl/generation.json
      The tiny GPT-2 and byte-level BPE tokenizer of tools/make_trl_fixtures.py (Tests/TrainingTests/Fixtures/trl):
      a text prompt encoded as `tokenizer(text)` does and a conversation rendered with dpo-dist's built-in "chatml"
      template and the generation prompt, each generated greedily with the folder's generation_config.json (EOS 0);
      the prompt ids, the completion ids and their text (`decode(..., skip_special_tokens=True)`).

Run with the oracle interpreter (CPU, float32, deterministic, no network; re-runnable, output is identical):
    /tmp/oracle/venv/bin/python tools/make_generation_fixtures.py
"""

import argparse
import json
from pathlib import Path

import safetensors.torch
import torch
import transformers

import parity_fixtures
from make_chat_template_fixtures import CHATML

REPOSITORY = Path(__file__).resolve().parent.parent
MODEL_FIXTURES = REPOSITORY / "Tests/ModelTests/Fixtures"
GENERATION_FIXTURES = REPOSITORY / "Tests/GenerationTests/Fixtures"
TRL_FIXTURES = REPOSITORY / "Tests/TrainingTests/Fixtures/trl"

# model prefix -> transformers class; every model has 61 tokens.
MODELS = {
    "gpt2_tiny": transformers.GPT2LMHeadModel,
    "llama_tiny": transformers.LlamaForCausalLM,
    "qwen2_tiny": transformers.Qwen2ForCausalLM,
}
VOCAB_SIZE = 61
PROMPTS = [[7], [3, 14, 15, 9, 26], [60, 0, 2, 27, 18, 28, 1, 8, 45]]
# GPT-2 has 24 positions: the longest prompt plus these many tokens fits.
MAX_NEW_TOKENS = 14
REPETITION_PENALTY = 1.3
# The smallest best-minus-second score gap accepted: float32 differences between two implementations are ~1e-6.
MINIMUM_MARGIN = 1e-3


def load_model(prefix: str):
    config = transformers.AutoConfig.from_pretrained(MODEL_FIXTURES / f"{prefix}_config.json")
    config._attn_implementation = "eager"
    model = MODELS[prefix](config)
    state = safetensors.torch.load_file(MODEL_FIXTURES / f"{prefix}_policy.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(name == "lm_head.weight" for name in missing), (missing, unexpected)
    model.eval()
    return model


def greedy(model, prompt: list, **settings) -> tuple:
    """Generated ids (without the prompt) and the smallest best-minus-second gap of the processed scores. Padding is
    never needed (one sequence); `pad_token_id` only silences the warning about it."""
    with torch.no_grad():
        output = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                do_sample=False, max_new_tokens=MAX_NEW_TOKENS, return_dict_in_generate=True,
                                output_scores=True, pad_token_id=0, **settings)
    generated = output.sequences[0, len(prompt):].tolist()
    margins = [float(top[0] - top[1]) for top in (scores[0].topk(2).values for scores in output.scores)]
    return generated, min(margins)


def greedy_cases() -> list:
    cases = []
    for prefix in MODELS:
        model = load_model(prefix)
        for prompt in PROMPTS:
            plain, margin = greedy(model, prompt)
            # As EOS, the first id the plain run generates for the first time at its 3rd step or later (else the last
            # new id it generates): the EOS run stops right after that step.
            new_ids = [(step, token) for step, token in enumerate(plain) if token not in plain[:step]]
            eos = next((token for step, token in new_ids if step >= 2), new_ids[-1][1])
            for name, settings in [("plain", {}), ("repetition_penalty", {"repetition_penalty": REPETITION_PENALTY}),
                                   ("eos", {"eos_token_id": eos})]:
                generated, margin = greedy(model, prompt, **settings)
                assert margin > MINIMUM_MARGIN, (prefix, prompt, name, margin)
                cases.append({"model": prefix, "case": name, "prompt_ids": prompt, "max_new_tokens": MAX_NEW_TOKENS,
                              "repetition_penalty": settings.get("repetition_penalty", 1.0),
                              "eos_token_ids": [eos] if name == "eos" else [], "generated_ids": generated,
                              "smallest_margin": margin})
            assert cases[-1]["generated_ids"] == plain[:plain.index(eos) + 1]
    return cases


def with_removed_as_null(scores: torch.Tensor) -> list:
    return [None if value == float("-inf") else value for value in scores.tolist()]


def processor_cases() -> list:
    generator = torch.Generator().manual_seed(1234)
    cases = []
    vocab = 40
    for index in range(2):
        scores = 3 * torch.randn(1, vocab, generator=generator)
        input_ids = torch.randint(0, vocab, (1, 12), generator=generator)
        for name, processor in [
            ("repetition_penalty", transformers.RepetitionPenaltyLogitsProcessor(1.5)),
            ("repetition_penalty", transformers.RepetitionPenaltyLogitsProcessor(0.7)),
            ("temperature", transformers.TemperatureLogitsWarper(0.6)),
            ("top_k", transformers.TopKLogitsWarper(5)),
            ("top_k", transformers.TopKLogitsWarper(vocab + 10)),
            ("top_p", transformers.TopPLogitsWarper(0.9)),
            ("top_p", transformers.TopPLogitsWarper(0.3)),
            ("top_p", transformers.TopPLogitsWarper(0.0)),
        ]:
            parameter = {"repetition_penalty": getattr(processor, "penalty", None),
                         "temperature": getattr(processor, "temperature", None),
                         "top_k": getattr(processor, "top_k", None), "top_p": getattr(processor, "top_p", None)}[name]
            cases.append({"processor": name, "parameter": parameter, "input_ids": input_ids[0].tolist(),
                          "scores": scores[0].tolist(),
                          "processed": with_removed_as_null(processor(input_ids, scores.clone())[0])})
        # The chain `generate` builds for do_sample=True, repetition_penalty=1.2, temperature=0.8, top_k=10, top_p=0.8.
        chain = transformers.LogitsProcessorList([
            transformers.RepetitionPenaltyLogitsProcessor(1.2), transformers.TemperatureLogitsWarper(0.8),
            transformers.TopKLogitsWarper(10), transformers.TopPLogitsWarper(0.8)])
        cases.append({"processor": "sampling_chain", "parameter": None, "input_ids": input_ids[0].tolist(),
                      "scores": scores[0].tolist(), "processed": with_removed_as_null(chain(input_ids, scores.clone())[0]),
                      "settings": {"repetition_penalty": 1.2, "temperature": 0.8, "top_k": 10, "top_p": 0.8}})
    return cases


def text_cases() -> dict:
    folder = TRL_FIXTURES / "model"
    tokenizer = transformers.AutoTokenizer.from_pretrained(TRL_FIXTURES / "tokenizer")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager")
    model.eval()
    assert model.generation_config.eos_token_id == 0
    # The model has 64 positions and the tokenizer, trained on a few pairs only, spends 45 tokens on this conversation.
    max_new_tokens = 16
    messages = [{"role": "user", "content": "Hi"}]
    prompts = [
        ("text", "The quick brown fox", tokenizer("The quick brown fox")["input_ids"]),
        ("messages", messages, tokenizer.apply_chat_template(messages, chat_template=CHATML, add_generation_prompt=True,
                                                             tokenize=True, return_dict=False)),
    ]
    cases = []
    for kind, prompt, ids in prompts:
        with torch.no_grad():
            output = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                    do_sample=False, max_new_tokens=max_new_tokens, return_dict_in_generate=True,
                                    output_scores=True)
        completion = output.sequences[0, len(ids):].tolist()
        margin = min(float(top[0] - top[1]) for top in (scores[0].topk(2).values for scores in output.scores))
        cases.append({"kind": kind, "prompt": prompt, "prompt_ids": ids, "completion_ids": completion,
                      "completion": tokenizer.decode(completion, skip_special_tokens=True), "smallest_margin": margin})
    return {"max_new_tokens": max_new_tokens, "chat_template": "chatml", "cases": cases}


def write(path: Path, value: dict) -> None:
    """JSON with one case per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {key: item for key, item in value.items() if key != "cases"}
    lines = [json.dumps(case, ensure_ascii=False) for case in value["cases"]]
    text = json.dumps(header)[:-1] + (", " if header else "") + '"cases": [\n' + ",\n".join(lines) + "\n]}\n"
    assert json.loads(text) == value
    path.write_text(text)
    print(f"wrote {path.relative_to(REPOSITORY)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    parity_fixtures.configure_torch()
    write(GENERATION_FIXTURES / "greedy_generation.json", {"vocab_size": VOCAB_SIZE, "cases": greedy_cases()})
    write(GENERATION_FIXTURES / "logits_processors.json", {"cases": processor_cases()})
    write(TRL_FIXTURES / "generation.json", text_cases())


if __name__ == "__main__":
    main()
