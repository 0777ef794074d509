/// The run `dpo-dist train` does with no `--config`: a small GPT-2-architecture model trained from scratch
/// on the built-in "polite correction vs. agreement" preference set. Kept identical to `configs/demo.yaml`
/// (a test checks it), so the file documents what the default run does.
public let demoConfigYAML = """
# dpo-dist demo: a 4-layer byte-level GPT-2-architecture model learns to prefer polite corrections of
# false claims over sycophantic agreement (built-in data, held-out claims for evaluation).
train_dataset: demo
eval_dataset: demo
max_length: 160
model:
  n_layer: 4
  n_head: 4
  n_embd: 128
  n_positions: 160
beta: 0.1
learning_rate: 1.0e-3
lr_scheduler_type: cosine
warmup_ratio: 0.1
weight_decay: 0.0
max_grad_norm: 1.0
per_device_train_batch_size: 8
gradient_accumulation_steps: 2
num_train_epochs: 4
seed: 42
logging_steps: 5
eval_steps: 20
save_steps: 40
save_total_limit: 2
output_dir: runs/demo
overwrite_output_dir: true   # the demo is disposable: rerunning it starts over

"""
