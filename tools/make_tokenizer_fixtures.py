#!/usr/bin/env python3
"""Generate the tokenizer parity fixtures for dpo-dist (Tests/TokenizerFixtures/Fixtures/tokenizers).

There is no hub access, so each tokenizer is trained locally with the `tokenizers` library on a small built-in
corpus and configured like the real model family, in the same tokenizer.json layout those models ship:

  gpt2/            byte-level BPE, ByteLevel pre-tokenizer with GPT-2's regex, ByteLevel decoder;
                   <|endoftext|> special; bos/eos only in a legacy special_tokens_map.json ({content: ...} objects)
  smollm/          like SmolLM: Digits(individual_digits) + ByteLevel pre-tokenizer; ChatML specials plus added
                   tokens with lstrip / rstrip / single_word / normalized variations
  llama3/          like Llama-3: Split(Llama-3 regex, Isolated) + ByteLevel(use_regex=false), ignore_merges,
                   post-processor Sequence[ByteLevel, TemplateProcessing(<|begin_of_text|> $A)]
  qwen2/           like Qwen2: NFC normalizer, Split(Qwen2 regex) + ByteLevel(use_regex=false), ChatML specials,
                   pad <|endoftext|> and eos <|im_end|>
  llama2/          SentencePiece-style BPE like Llama-2 / TinyLlama: Prepend(▁) + Replace(' ', ▁) normalizer, no
                   pre-tokenizer, byte_fallback with <0x00>..<0xFF>, <unk>/<s>/</s>, TemplateProcessing(<s> $A),
                   decoder Sequence[Replace, ByteFallback, Fuse, Strip]; tokenizer_config.json with AddedToken objects
  llama2_metaspace/ the same model with the newer conversion: no normalizer, Metaspace(prepend_scheme=first,
                   split=false) pre-tokenizer and a Metaspace decoder

Each folder holds tokenizer.json, tokenizer_config.json (as transformers' save_pretrained writes it, or the legacy
shape where noted), optionally special_tokens_map.json, and expected.json: for every corpus line the ids of
`Tokenizer.encode(text, add_special_tokens=False)` and `=True`, and `decode(ids_without_specials,
skip_special_tokens=False)`. The `tokenizers` library is the oracle; transformers is used only to write the config
files. Training is deterministic, so re-running the script reproduces the files.

    /tmp/oracle/venv/bin/python tools/make_tokenizer_fixtures.py [--out Tests/TokenizerFixtures/Fixtures/tokenizers]
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Training text: enough English for a few hundred merges, plus a little of everything the test corpus contains.
TRAINING_CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.",
    "It's a truth universally acknowledged that we'll need more data, and they're right: you've seen it.",
    "Preference optimization compares a chosen answer with a rejected answer for the same prompt.",
    "The model learns to prefer the chosen reply while staying close to the reference model.",
    "Numbers like 2024, 3.14159 and 1,000,000 appear in reports; 42 is the answer, 7 is lucky.",
    "def train(model, data):\n    for batch in data:\n        loss = model(batch)\n        loss.backward()\n",
    "Hello world! Hello again, world. Good morning, good evening, good night.",
    "Café, naïve, résumé, Zürich, São Paulo, Kraków, Ελληνικά, русский язык.",
    "你好世界，今天天气很好。日本語のテキストです。한국어 문장입니다.",
    "Emoji are fun 😀😀 👍 and flags 🇯🇵 too.",
    "User: what is the capital of France?\nAssistant: The capital of France is Paris.\n\n",
    "Question: how many legs does a spider have? Answer: eight legs, not six.",
    "    indented line\twith\ttabs and   several   spaces\r\nwindows line end",
    "The reference model is frozen; only the policy model receives gradient updates during training.",
]

TEST_CORPUS = [
    "Hello, world!",
    "",
    " ",
    "\n",
    "  leading and trailing spaces  ",
    "tabs\tand\t\tmultiple   spaces    here",
    "line one\nline two\n\nline four\r\nwindows\r\n\r\nend",
    "trailing newline\n",
    "Numbers: 12345, 3.14, 1,000,000 and 007 and ٣٤٥ and ½",
    "Unicode: naïve café, Ünïcödé, Ελληνικά, русский",
    "decomposed: e\u0301 vs \u00e9 and A\u030a",
    "CJK: 你好，世界！日本語のテキスト。한국어",
    "Emoji: 😀 👍🏽 👨\u200d👩\u200d👧\u200d👦 🇯🇵!",
    "Contractions: I'm, you're, it's, they'll, we've, he'd, DON'T, I'M, 'S, 'Ll",
    "apostrophes: ’s ‘quote’ 'ſ and ''",
    "code: def f(x):\n    return x**2  # square\n",
    "spaces\u00a0nbsp\u2003em\u3000ideographic\u000bvt\u0085nel\u2028ls",
    "<|endoftext|>",
    "Specials inline: a<|endoftext|>b and <|im_start|>user\nhi<|im_end|>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>",
    "<s>Llama style</s> bos <s> eos</s>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "added tokens: a <mask> b<mask>c  <mask>  xyzzy axyzzy xyzzyb (xyzzy) <sep>   after<sep>x",
    "unknown special-like <|not_a_token|> and <unk> text",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!!!!!!!!!!!!----",
    "The chosen reply politely corrects the user's false claim.",
    "Mixed: The café's 3 dogs—and 2 cats—ate 10.5kg of food 🐶🐱 in 2024!",
]

SMOLLM_ADDED = [
    AddedToken("<mask>", lstrip=True, rstrip=False, single_word=False, normalized=False, special=True),
    AddedToken("xyzzy", lstrip=False, rstrip=False, single_word=True, normalized=True, special=False),
    AddedToken("<sep>", lstrip=False, rstrip=True, single_word=False, normalized=False, special=False),
]


def train_byte_level(pre_tokenizer, normalizer=None, vocab_size=520, ignore_merges=False):
    """A byte-level BPE trained on TRAINING_CORPUS (the 256 byte symbols are always in the alphabet)."""
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAINING_CORPUS, trainer)
    return tok


def make_gpt2():
    tok = train_byte_level(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    special_tokens_map = {name: {"content": "<|endoftext|>", "lstrip": False, "normalized": False,
                                 "rstrip": False, "single_word": False}
                          for name in ("bos_token", "eos_token", "unk_token")}
    # GPT-2's legacy config: the special tokens live only in special_tokens_map.json.
    config = {"add_prefix_space": False, "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}
    return tok, config, special_tokens_map


def make_smollm():
    tok = train_byte_level(pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                    pre_tokenizers.ByteLevel(add_prefix_space=False)]))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")])
    tok.add_tokens(SMOLLM_ADDED)
    return tok, dict(bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>",
                     unk_token="<|endoftext|>"), None


def make_llama3():
    tok = train_byte_level(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)]),
        ignore_merges=True)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                "<|reserved_special_token_1|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    bos_id = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos_id)])])
    return tok, dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"), None


def make_qwen2():
    tok = train_byte_level(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)]),
        normalizer=normalizers.NFC())
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")])
    return tok, dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"), None


def sentencepiece_bpe_json():
    """Llama-2's tokenizer.json layout around a BPE trained on ▁-joined words (SentencePiece style):
    <unk>, <s>, </s>, then the 256 <0xNN> byte tokens, then the learned pieces. Characters the training text lacks
    (skin tones, ZWJ families, accented capitals, Arabic digits, …) go through byte fallback. (No `limit_alphabet`:
    the trainer breaks its frequency ties at random, which would make the fixture differ on every run.)"""
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=420, show_progress=False)
    trainer_tok.train_from_iterator(TRAINING_CORPUS, trainer)
    learned = json.loads(trainer_tok.to_str())["model"]

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for piece, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(piece, len(vocab))
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [" ".join(pair) for pair in learned["merges"]]},
    }


def llama2_config():
    """Llama-2's tokenizer_config.json shape: special tokens as serialized AddedToken objects."""
    def added(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": False,
                "rstrip": False, "single_word": False}
    return {"add_bos_token": True, "add_eos_token": False, "bos_token": added("<s>"), "eos_token": added("</s>"),
            "clean_up_tokenization_spaces": False, "legacy": True, "model_max_length": 2048, "pad_token": None,
            "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer", "unk_token": added("<unk>")}


def make_llama2():
    tok = Tokenizer.from_str(json.dumps(sentencepiece_bpe_json()))
    return tok, llama2_config(), {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def make_llama2_metaspace():
    spec = sentencepiece_bpe_json()
    spec["normalizer"] = None
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return Tokenizer.from_str(json.dumps(spec)), dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                                      pad_token="</s>"), None


BUILDERS = {"gpt2": make_gpt2, "smollm": make_smollm, "llama3": make_llama3, "qwen2": make_qwen2,
            "llama2": make_llama2, "llama2_metaspace": make_llama2_metaspace}


def write_config(tok, folder, config, special_tokens_map):
    """tokenizer_config.json: a dict is taken as the literal legacy file; keyword specials go through
    PreTrainedTokenizerFast.save_pretrained so the file has the shape current transformers writes."""
    if "tokenizer_class" in config:
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    else:
        with tempfile.TemporaryDirectory() as scratch:
            PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tok.to_str()), **config).save_pretrained(scratch)
            shutil.copy(Path(scratch) / "tokenizer_config.json", folder / "tokenizer_config.json")
    if special_tokens_map is not None:
        (folder / "special_tokens_map.json").write_text(
            json.dumps(special_tokens_map, indent=2, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="Tests/TokenizerFixtures/Fixtures/tokenizers")
    out = Path(parser.parse_args().out)
    for name, build in BUILDERS.items():
        tok, config, special_tokens_map = build()
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        # Written by the tokenizers library itself (save_pretrained in transformers 5 rewrites the post-processor).
        (folder / "tokenizer.json").write_text(tok.to_str() + "\n")
        write_config(tok, folder, config, special_tokens_map)

        reloaded = Tokenizer.from_file(str(folder / "tokenizer.json"))
        cases = []
        for text in TEST_CORPUS:
            plain = reloaded.encode(text, add_special_tokens=False).ids
            cases.append({"text": text, "ids": plain,
                          "ids_with_special_tokens": reloaded.encode(text, add_special_tokens=True).ids,
                          "decoded": reloaded.decode(plain, skip_special_tokens=False)})
        expected = {"tokenizers_version": tokenizers.__version__, "transformers_version": transformers.__version__,
                    "vocab_size": reloaded.get_vocab_size(with_added_tokens=True), "cases": cases}
        (folder / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
        print(f"{name}: vocab {expected['vocab_size']}, "
              f"{sum(len(c['ids']) for c in cases)} ids over {len(cases)} lines")


if __name__ == "__main__":
    main()
