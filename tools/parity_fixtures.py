"""Shared machinery of the PyTorch parity fixture generators (tools/make_gpt2_fixtures.py, tools/make_llama_fixtures.py).

Every generator builds tiny transformers models with fixed, deterministically perturbed weights and scores the same
batch of 3 preference pairs laid out exactly as dpo-dist lays them out, then records what the Swift model must
reproduce, all in Tests/ModelTests/Fixtures under one prefix:

  <prefix>_config.json             the policy's Hugging Face config.json (as `save_pretrained` writes it)
  <prefix>_policy.safetensors      policy parameters (HF state_dict names and layout; a tied lm_head.weight and
                                   non-parameter buffers omitted)
  <prefix>_reference.safetensors   reference parameters (a different perturbation, so log-ratios are non-zero)
  <prefix>_outputs.safetensors     "logits" [6, T, vocab] of the policy
  <prefix>_gradients.safetensors   d(DPO loss)/d(parameter) for every policy parameter (same names)
  <prefix>_case.json               config, tokens, score mask, beta, per-row log-prob sums, loss, rewards,
                                   d(loss)/d(policy log-prob sums), per-row entropy sums and argmax hits of the
                                   policy, library versions

Batch layout (as dpo-dist's padPreferenceBatch): rows 0..<3 are prompt+chosen, rows 3..<6 prompt+rejected,
right padded with token 0 to the longest row. scoreMask[b, t] = 1 on completion tokens; a scored position t
means the logits at t-1 predict token t. No attention mask is used: with right padding and causal attention
real tokens never attend to padding (checked by scoring every row unpadded).

Loss: sigmoid DPO, mean over pairs of -logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))).
"""

import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
import transformers

BETA = 0.1
PAD_TOKEN_ID = 0
INIT_SEED = 1234
POLICY_PERTURBATION_SEED = 1
REFERENCE_PERTURBATION_SEED = 2
TOKEN_SEED = 7

# (prompt length, chosen length, rejected length) per pair: every row has a different real length, so the
# padded batch has rows with 0..7 padding positions; the longest row is 17 tokens.
PAIR_LENGTHS = [(6, 5, 4), (3, 8, 7), (9, 3, 8)]

# float32 results must match a float64 run of the same computation to this relative tolerance (same
# definition as the Swift test); this shows the Swift test's 1e-4 is far above float32 rounding noise.
FLOAT32_NOISE_TOLERANCE = 1e-5

# At every scored position the largest logit must lead the second by this much, so float32 rounding in either
# implementation cannot change which token is the argmax (the Swift test compares argmax hits exactly).
MINIMUM_ARGMAX_MARGIN = 1e-3

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "Tests/ModelTests/Fixtures"


def configure_torch() -> None:
    """CPU, float32, deterministic, one thread: reruns are bit-identical."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)


def make_model(model_class, config, perturbation_seed: int, is_norm_weight):
    """The family's default init (same seed for every model), then a seeded perturbation of every parameter.

    The perturbation makes the test sensitive to every term: norm weights (`is_norm_weight(name)`) are
    1 + N(0, 0.2) and all other 1-D parameters (biases) N(0, 0.1) instead of 1 / 0, and the 2-D weights get
    N(0, 0.25) added so attention is far from uniform and logits span a few units (with the 0.02 default init
    everything is nearly linear and nearly uniform).
    """
    torch.manual_seed(INIT_SEED)
    model = model_class(config)
    model.eval()
    assert model.config._attn_implementation == "eager"
    generator = torch.Generator().manual_seed(perturbation_seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if parameter.dim() == 2:
                parameter.add_(0.25 * noise)
            elif is_norm_weight(name):
                parameter.copy_(1.0 + 0.2 * noise)
            else:  # biases, including LayerNorm biases
                parameter.copy_(0.1 * noise)
    return model


def parameter_tensors(model) -> dict:
    """Trainable parameters by HF state_dict name (named_parameters() lists a tied lm_head.weight once, under the
    embedding's name; buffers such as causal masks and rotary frequencies are not parameters)."""
    return {name: p.detach().contiguous().clone() for name, p in model.named_parameters()}


def make_batch(vocab_size: int) -> dict:
    """Token rows and score mask laid out as dpo-dist's padPreferenceBatch (chosen rows, then rejected rows)."""
    generator = torch.Generator().manual_seed(TOKEN_SEED)

    def random_tokens(count: int) -> list:  # real tokens avoid the pad id so padding is recognisable
        return torch.randint(1, vocab_size, (count,), generator=generator).tolist()

    prompts, chosen, rejected = [], [], []
    for prompt_length, chosen_length, rejected_length in PAIR_LENGTHS:
        prompts.append(random_tokens(prompt_length))
        chosen.append(random_tokens(chosen_length))
        rejected.append(random_tokens(rejected_length))

    rows = [(p, c) for p, c in zip(prompts, chosen)] + [(p, r) for p, r in zip(prompts, rejected)]
    length = max(len(p) + len(c) for p, c in rows)
    tokens, score_mask, row_lengths = [], [], []
    for prompt, completion in rows:
        real = prompt + completion
        padding = length - len(real)
        tokens.append(real + [PAD_TOKEN_ID] * padding)
        score_mask.append([0] * len(prompt) + [1] * len(completion) + [0] * padding)
        row_lengths.append(len(real))
    return {
        "prompts": prompts, "chosen": chosen, "rejected": rejected,
        "tokens": torch.tensor(tokens, dtype=torch.long),
        "score_mask": torch.tensor(score_mask, dtype=torch.long),
        "row_lengths": row_lengths,
    }


def completion_log_prob_sums(logits: torch.Tensor, tokens: torch.Tensor, score_mask: torch.Tensor) -> torch.Tensor:
    """Per row: Σ_t scoreMask[t] · log softmax(logits[t-1])[tokens[t]]."""
    log_probs = F.log_softmax(logits[:, :-1, :], dim=-1)
    token_log_probs = log_probs.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (token_log_probs * score_mask[:, 1:].to(logits.dtype)).sum(dim=-1)


def completion_statistics(logits: torch.Tensor, tokens: torch.Tensor, score_mask: torch.Tensor) -> dict:
    """Per row, over scored positions: Σ entropy of softmax(logits[t-1]) (TRL's `entropy`) and the number of
    positions whose argmax is tokens[t] (TRL's `mean_token_accuracy`)."""
    predicting = logits[:, :-1, :].detach()
    mask = score_mask[:, 1:].bool()
    log_probs = F.log_softmax(predicting, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    top2 = predicting.topk(2, dim=-1).values
    margin = (top2[..., 0] - top2[..., 1])[mask].min().item()
    assert margin >= MINIMUM_ARGMAX_MARGIN, f"an argmax is decided by only {margin:.3g}"
    correct = (predicting.argmax(dim=-1) == tokens[:, 1:]) & mask
    return {
        "entropy_sums": (entropy * mask).sum(dim=-1),
        "correct_counts": correct.sum(dim=-1),
    }


def dpo_loss(policy_logps: torch.Tensor, reference_logps: torch.Tensor, pairs: int):
    """Sigmoid DPO loss averaged over pairs, and the chosen / rejected rewards beta·(policy − reference)."""
    chosen_rewards = BETA * (policy_logps[:pairs] - reference_logps[:pairs])
    rejected_rewards = BETA * (policy_logps[pairs:] - reference_logps[pairs:])
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards, rejected_rewards


def run_case(policy, reference, batch) -> dict:
    """Forward both models, the DPO loss, and backward through the policy."""
    tokens, score_mask = batch["tokens"], batch["score_mask"]
    policy.zero_grad(set_to_none=True)
    logits = policy(input_ids=tokens).logits
    policy_logps = completion_log_prob_sums(logits, tokens, score_mask)
    with torch.no_grad():
        reference_logps = completion_log_prob_sums(reference(input_ids=tokens).logits, tokens, score_mask)
    loss, chosen_rewards, rejected_rewards = dpo_loss(policy_logps, reference_logps, len(PAIR_LENGTHS))
    policy_logps.retain_grad()
    loss.backward()
    gradients = {name: p.grad.detach().contiguous().clone() for name, p in policy.named_parameters()}
    return {
        "logits": logits.detach().contiguous(), "policy_logps": policy_logps.detach(),
        "reference_logps": reference_logps, "loss": loss.detach(),
        "chosen_rewards": chosen_rewards.detach(), "rejected_rewards": rejected_rewards.detach(),
        "loss_gradient": policy_logps.grad.detach(), "gradients": gradients,
        "statistics": completion_statistics(logits, tokens, score_mask),
    }


def check_padding_is_invisible(model, batch, padded_logits: torch.Tensor) -> None:
    """Right padding + causal attention: scoring each row without its padding gives the same logits."""
    with torch.no_grad():
        for row, length in enumerate(batch["row_lengths"]):
            alone = model(input_ids=batch["tokens"][row:row + 1, :length]).logits[0]
            error = relative_error(padded_logits[row, :length], alone)
            assert error <= FLOAT32_NOISE_TOLERANCE, f"row {row}: padding changed the logits ({error:.3g})"


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max|a − b| / max|b| over the whole tensor: the Swift test's per-tensor measure."""
    expected = expected.double()
    scale = expected.abs().max().item()
    assert scale > 0, "an all-zero expected tensor would make the relative error meaningless"
    return (actual.double() - expected).abs().max().item() / scale


def check_against_float64(policy, reference, batch, result32: dict) -> float:
    """Re-run everything in float64 and return the worst float32 relative error (the float32 noise floor)."""
    result64 = run_case(policy.double(), reference.double(), batch)
    policy.float()
    reference.float()
    worst = 0.0
    pairs = [(result32[key], result64[key]) for key in
             ("logits", "policy_logps", "reference_logps", "loss", "chosen_rewards", "rejected_rewards", "loss_gradient")]
    pairs += [(result32["gradients"][name], result64["gradients"][name]) for name in result32["gradients"]]
    for actual, expected in pairs:
        worst = max(worst, relative_error(actual, expected))
    assert worst <= FLOAT32_NOISE_TOLERANCE, f"float32 vs float64 relative error {worst:.3g}"
    return worst


def save_safetensors(tensors: dict, path: Path, description: str) -> None:
    contiguous = {name: t.detach().to(torch.float32).contiguous() for name, t in tensors.items()}
    # One metadata key only: safetensors serialises the metadata map in hash order, so several keys would make
    # reruns differ byte-wise even though every tensor is identical.
    safetensors.torch.save_file(contiguous, str(path), metadata={"description": description})


def hugging_face_config_json(model) -> str:
    """config.json as `model.save_pretrained` writes it: the config, with "architectures" naming the model class."""
    model.config.architectures = [type(model).__name__]
    with tempfile.TemporaryDirectory() as folder:
        model.config.save_pretrained(folder)
        return (Path(folder) / "config.json").read_text()


def generate(out: Path, prefix: str, description: str, policy, reference, vocab_size: int, config_summary: dict) -> None:
    """Runs the case for `policy` / `reference`, checks it, and writes the fixture files under `prefix`."""
    reference.requires_grad_(False)
    batch = make_batch(vocab_size)
    assert batch["tokens"].shape[1] <= policy.config.max_position_embeddings
    result = run_case(policy, reference, batch)
    check_padding_is_invisible(policy, batch, result["logits"])
    float32_noise = check_against_float64(policy, reference, batch, result)

    out.mkdir(parents=True, exist_ok=True)
    policy_parameters = parameter_tensors(policy)
    assert policy_parameters.keys() == result["gradients"].keys()
    files = {
        f"{prefix}_policy.safetensors": (policy_parameters, "policy parameters"),
        f"{prefix}_reference.safetensors": (parameter_tensors(reference), "reference parameters"),
        f"{prefix}_gradients.safetensors": (result["gradients"], "d(DPO loss)/d(policy parameter)"),
        f"{prefix}_outputs.safetensors": ({"logits": result["logits"]}, "policy logits [rows, positions, vocab]"),
    }
    for filename, (tensors, summary) in files.items():
        save_safetensors(tensors, out / filename, summary)
    (out / f"{prefix}_config.json").write_text(hugging_face_config_json(policy))

    case = {
        "description": f"{description} generated by tools/{Path(sys.argv[0]).name} (PyTorch, float32, CPU)",
        "config": config_summary,
        "pairs": len(PAIR_LENGTHS),
        "rows": len(batch["row_lengths"]),
        "length": int(batch["tokens"].shape[1]),
        "padTokenID": PAD_TOKEN_ID,
        "tokens": batch["tokens"].tolist(),
        "scoreMask": batch["score_mask"].tolist(),
        "rowLengths": batch["row_lengths"],
        "beta": BETA,
        "policyLogProbSums": result["policy_logps"].tolist(),
        "referenceLogProbSums": result["reference_logps"].tolist(),
        "loss": result["loss"].item(),
        "chosenRewards": result["chosen_rewards"].tolist(),
        "rejectedRewards": result["rejected_rewards"].tolist(),
        "lossGradientWithRespectToPolicyLogProbSums": result["loss_gradient"].tolist(),
        "policyEntropySums": result["statistics"]["entropy_sums"].tolist(),
        "policyCorrectTokenCounts": result["statistics"]["correct_counts"].tolist(),
        "float32VersusFloat64RelativeError": float32_noise,
        "seeds": {"init": INIT_SEED, "policyPerturbation": POLICY_PERTURBATION_SEED,
                  "referencePerturbation": REFERENCE_PERTURBATION_SEED, "tokens": TOKEN_SEED},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "safetensors": safetensors.__version__},
    }
    (out / f"{prefix}_case.json").write_text(json.dumps(case, indent=1) + "\n")

    total = 0
    for filename in [*files, f"{prefix}_config.json", f"{prefix}_case.json"]:
        size = (out / filename).stat().st_size
        total += size
        print(f"wrote {out / filename} ({size} bytes)")
    print(f"{prefix}: total {total} bytes; loss {case['loss']:.6f}; rows {case['rows']} x {case['length']} positions; "
          f"float32 vs float64 relative error {float32_noise:.2e}")
    print(f"policy log-prob sums {[round(x, 4) for x in case['policyLogProbSums']]}")
    print(f"reference log-prob sums {[round(x, 4) for x in case['referenceLogProbSums']]}")
