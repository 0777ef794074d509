#!/usr/bin/env python3
"""Record how TRL's DPOTrainer prepares and collates preference data in every format, for dpo-dist's data tests
(Tests/PreferenceDataTests/Fixtures/trl_tokenization.json).

Each case is one small dataset file (JSON Lines text, stored verbatim) with one of the fixture tokenizers in
Tests/TokenizerFixtures/Fixtures/tokenizers and, for conversational data, one of dpo-dist's built-in chat templates
(its Jinja source is given here and stored in the case; the Swift test checks it is the built-in's). TRL's own
`DPOTrainer._prepare_dataset` prepares the rows (prompt extraction, EOS text, tokenization, the keep_start filter) and
its `DataCollatorForPreference` collates all kept rows as one batch (per-row truncation, right padding). Recorded per
case: the kept rows' prompt/chosen/rejected ids, the dropped rows, and the collated input_ids and completion_mask.

Run with the oracle interpreter (no network):
    /tmp/oracle/venv/bin/python tools/make_trl_tokenization_fixtures.py
"""

import json
import os
import tempfile
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import datasets  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402
from trl.trainer.dpo_trainer import DataCollatorForPreference  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests/PreferenceDataTests/Fixtures"
TOKENIZERS = ROOT / "Tests/TokenizerFixtures/Fixtures/tokenizers"

# The sources of dpo-dist's built-in templates of the same names (Sources/ChatTemplate).
CHAT_TEMPLATES = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
    "<|end_header_id|>\n\n' }}{% endif %}",
}


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


STANDARD = [
    {"prompt": "Q: Is the sky blue?\nA:", "chosen": " Yes, on a clear day.", "rejected": " No, it is green."},
    # Ends in a space: BPE merges it into the completion's first word, so it leaves the prompt.
    {"prompt": "Q: Name a colour.\nA: ", "chosen": "The sky is blue.", "rejected": "Green."},
    # Already ends with the EOS text: no second EOS.
    {"prompt": "Say hi.", "chosen": " Hi there!<EOS>", "rejected": " Go away."},
    # The prompt alone fills max_length: dropped with keep_start, cut from the left with keep_end.
    {"prompt": "Tell me a long story about a dragon who lived in the mountains and never came down to the valley.",
     "chosen": " Once upon a time.", "rejected": " No."},
    # Empty prompt: kept; the first token of each row has no predictor.
    {"prompt": "", "chosen": "Hello.", "rejected": "Bye."},
    # Long completions: cut at collation.
    {"prompt": "List fruit:", "chosen": " apple, pear, plum, fig, lime, kiwi, date, peach, grape and melon.",
     "rejected": " none"},
]

IMPLICIT_STANDARD = [
    {"chosen": "Q: Is ice cold?\nA: Yes, very.", "rejected": "Q: Is ice cold?\nA: No."},
    {"chosen": "Q: 2+2?\nA: 4", "rejected": "Q: 2+2?\nA: 5"},
    # One is a prefix of the other: TRL's prompt stops one character short of the shorter one.
    {"chosen": "The cat sat.", "rejected": "The cat sat. Then it left."},
]

CONVERSATIONAL = [
    {"prompt": [user("What colour is the sky?")], "chosen": [assistant("Blue.")],
     "rejected": [assistant("Green, like grass.")]},
    {"prompt": [{"role": "system", "content": "Be brief."}, user("Hi!"), assistant("Hello."), user("Is ice hot?")],
     "chosen": [assistant("No, it is cold.")], "rejected": [assistant("Yes.")]},
    {"prompt": [user("Tell me about a dragon who lived in the mountains and never came down to the valley.")],
     "chosen": [assistant("It stayed up there forever, watching the clouds go by.")], "rejected": [assistant("No.")]},
]

IMPLICIT_CONVERSATIONAL = [
    {"chosen": [user("Capital of France?"), assistant("Paris.")],
     "rejected": [user("Capital of France?"), assistant("Rome.")]},
    {"chosen": [user("Hi"), assistant("Hello!"), user("Bye"), assistant("Goodbye.")],
     "rejected": [user("Hi"), assistant("Hello!"), user("Bye"), assistant("Whatever.")]},
]

# name, tokenizer folder, chat template, records, max_length, truncation_mode
CASES = [
    ("gpt2_standard_keep_start", "gpt2", None, STANDARD, 24, "keep_start"),
    ("gpt2_standard_keep_end", "gpt2", None, STANDARD, 24, "keep_end"),
    ("llama2_standard_keep_start", "llama2", None, STANDARD, 24, "keep_start"),
    ("llama2_implicit_standard", "llama2", None, IMPLICIT_STANDARD, 64, "keep_start"),
    ("gpt2_implicit_standard", "gpt2", None, IMPLICIT_STANDARD, 64, "keep_start"),
    ("qwen2_chatml_conversational", "qwen2", "chatml", CONVERSATIONAL, 64, "keep_start"),
    ("qwen2_chatml_conversational_keep_end", "qwen2", "chatml", CONVERSATIONAL, 30, "keep_end"),
    ("qwen2_chatml_implicit_conversational", "qwen2", "chatml", IMPLICIT_CONVERSATIONAL, 64, "keep_start"),
    ("llama3_conversational", "llama3", "llama3", CONVERSATIONAL, 72, "keep_start"),
]


def run_case(name, tokenizer_name, template_name, records, max_length, truncation_mode, work_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(TOKENIZERS / tokenizer_name))
    if template_name is not None:
        tokenizer.chat_template = CHAT_TEMPLATES[template_name]
    # "<EOS>" in a record stands for the tokenizer's EOS text.
    records = json.loads(json.dumps(records).replace("<EOS>", tokenizer.eos_token))
    jsonl = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    rows = [dict(record, row=index) for index, record in enumerate(records)]

    args = DPOConfig(output_dir=str(work_dir), max_length=max_length, truncation_mode=truncation_mode, bf16=False,
                     report_to="none")
    trainer_stub = types.SimpleNamespace(_tokenizer=tokenizer)  # all _prepare_dataset reads from the trainer
    prepared = DPOTrainer._prepare_dataset(trainer_stub, datasets.Dataset.from_list(rows), tokenizer, args, name)
    kept = [{"row": example["row"], "prompt_ids": example["prompt_ids"], "chosen_ids": example["chosen_ids"],
             "rejected_ids": example["rejected_ids"]} for example in prepared]
    kept_rows = {example["row"] for example in kept}

    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    collator = DataCollatorForPreference(pad_token_id=pad_token_id, max_length=max_length,
                                         truncation_mode=truncation_mode)
    batch = collator([{key: example[key] for key in ("prompt_ids", "chosen_ids", "rejected_ids")}
                      for example in kept])
    # Standard rows whose tokenized prompt lost its tail to a token merged across the boundary.
    tail_left_out = [example["row"] for example in kept if isinstance(records[example["row"]].get("prompt"), str)
                     and len(example["prompt_ids"]) < len(tokenizer(records[example["row"]]["prompt"])["input_ids"])]
    return {
        "name": name,
        "tokenizer": tokenizer_name,
        "chat_template": template_name,
        "chat_template_source": CHAT_TEMPLATES.get(template_name),
        "max_length": max_length,
        "truncation_mode": truncation_mode,
        "pad_token_id": pad_token_id,
        "jsonl": jsonl,
        "pairs": kept,
        "prompt_tail_left_out_rows": tail_left_out,
        "dropped_rows": [row for row in range(len(records)) if row not in kept_rows],
        "collated": {"input_ids": batch["input_ids"].tolist(), "completion_mask": batch["completion_mask"].tolist()},
    }


def main():
    with tempfile.TemporaryDirectory() as work_dir:
        cases = [run_case(*case, work_dir) for case in CASES]
    # The fixture must show the boundary merge and the drop rule, or it tests less than it claims.
    assert any(case["prompt_tail_left_out_rows"] for case in cases), "no prompt merges into its completion"
    assert any(case["dropped_rows"] for case in cases), "no case drops a row"
    fixture = {
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__,
                     "datasets": datasets.__version__},
        "cases": cases,
    }
    out = FIXTURES / "trl_tokenization.json"
    out.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
