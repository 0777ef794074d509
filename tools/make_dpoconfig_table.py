"""Writes docs/dpoconfig-keys.md: every key of the installed TRL's DPOConfig, its default, and what dpo-dist does with it.

The keys dpo-dist accepts are read from the key table in Sources/Training/ConfigLoader.swift, so the page follows the
code; the explanations below say why a key is absent or behaves differently. Run with the reference environment:
    python tools/make_dpoconfig_table.py
"""
import dataclasses
import re
from pathlib import Path

import trl
from trl import DPOConfig, ModelConfig

REPO = Path(__file__).resolve().parent.parent
ours = set(re.findall(r'^\s+"([a-z0-9_.]+)":', (REPO / "Sources/Training/ConfigLoader.swift").read_text(), re.M))

# Keys we read whose meaning or default is not exactly TRL's.
DIFFERENT = {
    "learning_rate": "same default (1e-6); the built-in demo config uses 1e-3 for its tiny model",
    "train_sampling_strategy": "`random` is our own seeded permutation (same on every platform), not torch's; `sequential` is identical",
    "seed": "seeds the built-in model's initialisation and our data order; TRL's seeds torch",
    "loss_type": "all of TRL's loss types; `sigmoid` also honours `label_smoothing` (TRL 1.16 ignores it there)",
    "use_weighting": "same; also with `sft`, which TRL 1.16 stops on (an in-place product on an expanded tensor): we weight it by the micro-batch's mean pair weight, as TRL's code means to",
    "label_smoothing": "also applies to `sigmoid` (conservative DPO), as TRL ≤ 0.2x did",
    "max_length": "same; must fit the model's positions",
    "logging_steps": "same default (10); metrics are means of micro-batch means over the window, gathered from all ranks",
    "save_steps": "same default (500); 0 saves only at the end; a checkpoint is a complete Hugging Face folder plus optimizer state",
    "output_dir": "default `output`; a fresh run refuses a folder holding an earlier run's checkpoints (see `overwrite_output_dir`)",
    "precompute_ref_log_probs": "same; the result is also cached on disk (`precompute_ref_cache_dir`), keyed by weights, token ids and truncation",
    "bf16": "mixed precision as torch's CPU autocast: bf16-rounded matmul inputs (attention and LM head included) with fp32 accumulation on AVX512-BF16; weights, gradients, AdamW state and the loss fp32; the reference is not yet stored in bf16; fp32 with a logged message on CPUs without AVX512-BF16",
    "ddp_bucket_cap_mb": "bucket size of the gradient all-reduce that overlaps backward; 0 means one blocking all-reduce",
    "lora_target_modules": "only the Linear layers of the blocks can be adapted (PEFT also adapts embeddings and the LM head); matching as PEFT's: one name is `all-linear` or a regular expression over the whole module name, several match exactly or as a dotted suffix",
    "lora_modules_to_save": "a tied LM head/embedding, or part of q/k/v or gate/up (one fused product here), cannot be trained in full alone; matching as PEFT's",
    "ddp_timeout": "same default; bounds each phase that waits on other ranks (a step's gradient sum, the logged metrics, an evaluation, a checkpoint): past it the rank names the phase and ends the job (ignored on one process)",
    "report_to": "same default (`none`); `tensorboard` writes event files under `output_dir/runs/` as transformers does, `csv` writes `output_dir/metrics.csv`, `all` both; the other integrations are Python clients and are refused with that reason",
}

# Why a key is not read, by key or by prefix.
REASONS = [
    (("fp16", "bf16_full_eval", "fp16_full_eval", "tf32"), "we train in fp32 on CPUs; half-precision weights are read and converted"),
    (("gradient_checkpointing_kwargs",), "the recompute is always a block's own forward (no torch.utils.checkpoint options); see `gradient_checkpointing`"),
    (("activation_checkpointing", "activation_offloading"), "not implemented: use `gradient_checkpointing`, or lower `per_device_train_batch_size` to save memory"),
    (("torch_compile", "use_liger_kernel", "liger_kernel_config", "use_cache", "torch_empty_cache_steps"), "PyTorch/GPU-specific; our kernels are compiled ahead of time"),
    (("optim", "optim_args", "optim_target_modules", "lr_scheduler_kwargs"), "the optimizer is AdamW (torch semantics, decoupled decay, no decay on biases and norms); schedules have no extra arguments"),
    (("run_name", "project", "trackio_", "disable_tqdm", "log_level", "log_on_each_node", "logging_strategy", "logging_first_step", "logging_nan_inf_filter", "include_num_input_tokens_seen"), "metrics go to `output_dir/metrics.jsonl` and the console only; `num_tokens` is always logged"),
    (("push_to_hub", "hub_"), "no network access; checkpoints are Hugging Face folders you can upload yourself"),
    (("eval_strategy", "eval_delay", "prediction_loss_only", "eval_on_start", "eval_do_concat_batches", "eval_use_gather_object", "eval_accumulation_steps", "include_for_metrics", "batch_eval_metrics"), "evaluation runs every `eval_steps` and before/after training; no other schedule"),
    (("save_strategy", "save_only_model", "save_on_each_node", "enable_jit_checkpoint", "load_best_model_at_end", "metric_for_best_model", "greater_is_better", "restore_callback_states_from_checkpoint", "ignore_data_skip", "resume_from_checkpoint"), "checkpoints every `save_steps` from rank 0 only; resume with `--resume` (latest checkpoint in `output_dir`)"),
    (("use_cpu", "accelerator_config", "parallelism_config", "ddp_", "fsdp", "deepspeed", "local_rank", "dataloader_", "auto_find_batch_size"), "distribution is MPI data parallelism (mpirun/srun); there are no data-loader workers"),
    (("full_determinism", "data_seed"), "runs are always deterministic for a given seed and rank layout"),
    (("remove_unused_columns", "label_names", "length_column_name", "dataset_num_proc", "do_train", "do_eval", "do_predict", "debug", "skip_memory_metrics", "model_init_kwargs", "trust_remote_code", "average_tokens_across_devices", "router_aux_loss_coef"), "no meaning outside PyTorch/datasets, or not applicable to the supported models"),
    (("label_smoothing_factor", "neftune_noise_alpha"), "not implemented"),
    (("disable_dropout",), "dpo-dist has no dropout: always as with `disable_dropout: true`"),
    (("padding_free", "pad_to_multiple_of", "pad_token"), "batches are right-padded to their longest row; the pad token comes from the tokenizer (EOS when it has none)"),
]


# Why a LoRA key of TRL's ModelConfig is not read.
MODEL_CONFIG_REASONS = {
    "lora_target_parameters": "not implemented: only Linear modules are adapted (no parameter targets of MoE experts)",
    "lora_task_type": "always CAUSAL_LM, the only task dpo-dist trains",
    "use_dora": "not implemented: plain LoRA only",
}


def reason(key):
    for keys, text in REASONS:
        # A listed name covers its variants: `hub_` every hub_* key, `torch_compile` torch_compile_mode, …
        if any(key == k or key.startswith(k if k.endswith("_") else k + "_") or (k == "fsdp" and key.startswith(k))
               for k in keys):
            return text
    return "not implemented"


def main():
    fields = dataclasses.fields(DPOConfig)
    rows = []
    counts = {"same": 0, "different": 0, "unsupported": 0}
    for field in fields:
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
        if field.name in ours:
            status = "different" if field.name in DIFFERENT else "same"
            note = DIFFERENT.get(field.name, "")
        else:
            status, note = "unsupported", reason(field.name)
        counts[status] += 1
        rows.append(f"| `{field.name}` | `{default!r}` | {status} | {note} |")
    model_fields = [f for f in dataclasses.fields(ModelConfig) if f.name == "use_peft" or "lora" in f.name
                    or f.name in ("use_rslora", "use_dora")]
    model_rows = []
    for field in model_fields:
        if field.name in ours:
            status, note = ("different", DIFFERENT[field.name]) if field.name in DIFFERENT else ("same", "")
        else:
            status, note = "unsupported", MODEL_CONFIG_REASONS[field.name]
        model_rows.append(f"| `{field.name}` | `{field.default!r}` | {status} | {note} |")
    extra = sorted(key for key in ours if key not in {f.name for f in fields} | {f.name for f in model_fields})
    text = [
        f"# TRL `DPOConfig` keys in dpo-dist",
        "",
        f"Every field of `DPOConfig` in TRL {trl.__version__} (with the `TrainingArguments` it inherits), its TRL default,",
        "and what dpo-dist does with it: **same** (read, same meaning and default), **different** (read, with the",
        "difference stated) or **unsupported** (an unknown key: dpo-dist stops with an error naming it, and why it is",
        "absent is given here). Generated by `tools/make_dpoconfig_table.py` from the installed TRL and our key table",
        "(`Sources/Training/ConfigLoader.swift`).",
        "",
        f"{counts['same']} same, {counts['different']} different, {counts['unsupported']} unsupported.",
        "",
        "| key | TRL default | dpo-dist | notes |",
        "|---|---|---|---|",
        *rows,
        "",
        "## LoRA: TRL's `ModelConfig` keys",
        "",
        "TRL takes LoRA settings from its `ModelConfig` (script arguments) and hands them to PEFT's `LoraConfig`",
        "(`get_peft_config`, bias \"none\"); dpo-dist reads them from the same config file (docs/lora.md).",
        "",
        "| key | TRL default | dpo-dist | notes |",
        "|---|---|---|---|",
        *model_rows,
        "",
        "Keys dpo-dist reads that neither `DPOConfig` nor `ModelConfig` has: " + ", ".join(f"`{key}`" for key in extra) + ".",
        "`train_dataset`/`eval_dataset` and `model_name_or_path` are `DPOTrainer`/script arguments in TRL; `warmup_ratio`",
        "was removed in transformers 5 (we keep it); `max_prompt_length` exists only to tell old configs it was removed;",
        "`model.*`, `threads`, `overwrite_output_dir`, `precompute_ref_cache_dir`, `gradient_allreduce` and `share_reference`",
        "are ours; `zero_stage` is DeepSpeed's (OpenRLHF's) name.",
        "",
    ]
    (REPO / "docs/dpoconfig-keys.md").write_text("\n".join(text))
    print(f"wrote docs/dpoconfig-keys.md: {counts}")
    # The unsupported keys' reasons, which the config loader quotes, come from the table just written.
    import runpy
    runpy.run_path(str(Path(__file__).resolve().parent / "make_unsupported_keys.py"), run_name="__main__")


if __name__ == "__main__":
    main()
