#!/usr/bin/env python3
"""Generate the chat-template fixtures for dpo-dist (Tests/ChatTemplateTests/Fixtures/chat_templates).

For each supported chat template the script records what transformers renders, so the Swift Jinja interpreter
can be checked against it character for character:

  chat_templates.json   the conversations, and per template: its Jinja source, the special tokens the tokenizer
                        carries, `apply_chat_template(messages, tokenize=False, add_generation_prompt=flag)` for
                        every conversation and both flags, and TRL's `apply_chat_template` on preference examples
                        (prompt with the generation prompt, chosen/rejected as the rest)
                        and small templates each exercising one interpreter feature, rendered by the Jinja
                        environment transformers compiles chat templates with (or the error they raise)
                        and TRL's collection of published templates (trl/chat_templates/*.jinja, the originals,
                        not its "_training" variants; those calling strftime_now are left out, as their output
                        depends on the day) on four conversations
  saved_tokenizer/      a tokenizer saved with `save_pretrained` (Qwen2.5 template), to test loading from disk

The templates are the published ones of Qwen2.5-Instruct, SmolLM2-Instruct, Meta-Llama-3-Instruct,
Llama-3.1-Instruct, zephyr-7b-beta and TinyLlama-1.1B-Chat-v1.0 (the same text as zephyr), plus the ChatML
template dpo-dist ships as the built-in "chatml". There is no hub access: each template's source is written out
below and set on a tiny local PreTrainedTokenizerFast (a one-word WordLevel vocabulary; rendering with
tokenize=False does not depend on the vocabulary).

Run with the oracle interpreter (re-runnable, output is identical):
    /tmp/oracle/venv/bin/python tools/make_chat_template_fixtures.py [--out Tests/ChatTemplateTests/Fixtures/chat_templates]
"""

import argparse
import glob
import json
import os

import jinja2
import tokenizers
import transformers
import trl
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast
from trl.data_utils import apply_chat_template as trl_apply_chat_template

QWEN2_5_INSTRUCT = (
    '{%- if tools %}\n'
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    '    {%- else %}\n'
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    '    {%- endif %}\n'
    '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    '    {%- for tool in tools %}\n'
    '        {{- "\\n" }}\n'
    '        {{- tool | tojson }}\n'
    '    {%- endfor %}\n'
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    '{%- else %}\n'
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    '    {%- else %}\n'
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    '    {%- endif %}\n'
    '{%- endif %}\n'
    '{%- for message in messages %}\n'
    '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role }}\n"
    '        {%- if message.content %}\n'
    "            {{- '\\n' + message.content }}\n"
    '        {%- endif %}\n'
    '        {%- for tool_call in message.tool_calls %}\n'
    '            {%- if tool_call.function is defined %}\n'
    '                {%- set tool_call = tool_call.function %}\n'
    '            {%- endif %}\n'
    '            {{- \'\\n<tool_call>\\n{"name": "\' }}\n'
    '            {{- tool_call.name }}\n'
    '            {{- \'", "arguments": \' }}\n'
    '            {{- tool_call.arguments | tojson }}\n'
    "            {{- '}\\n</tool_call>' }}\n"
    '        {%- endfor %}\n'
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    '        {%- endif %}\n'
    "        {{- '\\n<tool_response>\\n' }}\n"
    '        {{- message.content }}\n'
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    '        {%- endif %}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|im_start|>assistant\\n' }}\n"
    '{%- endif %}\n'
)

LLAMA3_INSTRUCT = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n"
    '\n'
    "'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n"
    '\n'
    "' }}{% endif %}"
)

LLAMA3_1_INSTRUCT = (
    '{{- bos_token }}\n'
    '{%- if custom_tools is defined %}\n'
    '    {%- set tools = custom_tools %}\n'
    '{%- endif %}\n'
    '{%- if not tools_in_user_message is defined %}\n'
    '    {%- set tools_in_user_message = true %}\n'
    '{%- endif %}\n'
    '{%- if not date_string is defined %}\n'
    '    {%- set date_string = "26 Jul 2024" %}\n'
    '{%- endif %}\n'
    '{%- if not tools is defined %}\n'
    '    {%- set tools = none %}\n'
    '{%- endif %}\n'
    '\n'
    '{#- This block extracts the system message, so we can slot it into the right place. #}\n'
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    '    {%- set messages = messages[1:] %}\n'
    '{%- else %}\n'
    '    {%- set system_message = "" %}\n'
    '{%- endif %}\n'
    '\n'
    '{#- System message + builtin tools #}\n'
    '{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}\n'
    '{%- if builtin_tools is defined or tools is not none %}\n'
    '    {{- "Environment: ipython\\n" }}\n'
    '{%- endif %}\n'
    '{%- if builtin_tools is defined %}\n'
    '    {{- "Tools: " + builtin_tools | reject(\'equalto\', \'code_interpreter\') | join(", ") + "\\n\\n"}}\n'
    '{%- endif %}\n'
    '{{- "Cutting Knowledge Date: December 2023\\n" }}\n'
    '{{- "Today Date: " + date_string + "\\n\\n" }}\n'
    '{%- if tools is not none and not tools_in_user_message %}\n'
    '    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}\n'
    '    {{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}\n'
    '    {{- "Do not use variables.\\n\\n" }}\n'
    '    {%- for t in tools %}\n'
    '        {{- t | tojson(indent=4) }}\n'
    '        {{- "\\n\\n" }}\n'
    '    {%- endfor %}\n'
    '{%- endif %}\n'
    '{{- system_message }}\n'
    '{{- "<|eot_id|>" }}\n'
    '\n'
    '{#- Custom tools are passed in a user message with some extra guidance #}\n'
    '{%- if tools_in_user_message and not tools is none %}\n'
    '    {#- Extract the first user message so we can plug it in here #}\n'
    '    {%- if messages | length != 0 %}\n'
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    '        {%- set messages = messages[1:] %}\n'
    '    {%- else %}\n'
    '        {{- raise_exception("Cannot put tools in the first user message when there\'s no first user message!") }}\n'
    '{%- endif %}\n'
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    '    {{- "Given the following functions, please respond with a JSON for a function call " }}\n'
    '    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}\n'
    '    {{- \'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\' }}\n'
    '    {{- "Do not use variables.\\n\\n" }}\n'
    '    {%- for t in tools %}\n'
    '        {{- t | tojson(indent=4) }}\n'
    '        {{- "\\n\\n" }}\n'
    '    {%- endfor %}\n'
    '    {{- first_user_message + "<|eot_id|>"}}\n'
    '{%- endif %}\n'
    '\n'
    '{%- for message in messages %}\n'
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    '        {%- if not message.tool_calls|length == 1 %}\n'
    '            {{- raise_exception("This model only supports single tool-calls at once!") }}\n'
    '        {%- endif %}\n'
    '        {%- set tool_call = message.tool_calls[0].function %}\n'
    '        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n'
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    '            {{- "<|python_tag|>" + tool_call.name + ".call(" }}\n'
    '            {%- for arg_name, arg_val in tool_call.arguments | items %}\n'
    '                {{- arg_name + \'="\' + arg_val + \'"\' }}\n'
    '                {%- if not loop.last %}\n'
    '                    {{- ", " }}\n'
    '                {%- endif %}\n'
    '                {%- endfor %}\n'
    '            {{- ")" }}\n'
    '        {%- else  %}\n'
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    '            {{- \'{"name": "\' + tool_call.name + \'", \' }}\n'
    '            {{- \'"parameters": \' }}\n'
    '            {{- tool_call.arguments | tojson }}\n'
    '            {{- "}" }}\n'
    '        {%- endif %}\n'
    '        {%- if builtin_tools is defined %}\n'
    "            {#- This means we're in ipython mode #}\n"
    '            {{- "<|eom_id|>" }}\n'
    '        {%- else %}\n'
    '            {{- "<|eot_id|>" }}\n'
    '        {%- endif %}\n'
    '    {%- elif message.role == "tool" or message.role == "ipython" %}\n'
    '        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}\n'
    '        {%- if message.content is mapping or message.content is iterable %}\n'
    '            {{- message.content | tojson }}\n'
    '        {%- else %}\n'
    '            {{- message.content }}\n'
    '        {%- endif %}\n'
    '        {{- "<|eot_id|>" }}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    '{%- endif %}\n'
)

SMOLLM2_INSTRUCT = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

ZEPHYR = (
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}"
)

# transformers' former default ChatML template, dpo-dist's built-in "chatml".
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' "
    "+ '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA3_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
ZEPHYR_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

# name -> (source, special tokens as the model's tokenizer config sets them, dpo-dist built-in name or None)
TEMPLATES = {
    "qwen2.5-instruct": (QWEN2_5_INSTRUCT, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, None),
    "smollm2-instruct": (SMOLLM2_INSTRUCT, {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                                            "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"}, None),
    "llama3-instruct": (LLAMA3_INSTRUCT, LLAMA3_TOKENS, "llama3"),
    "llama3.1-instruct": (LLAMA3_1_INSTRUCT, LLAMA3_TOKENS, None),
    "zephyr-7b-beta": (ZEPHYR, ZEPHYR_TOKENS, "zephyr"),
    "tinyllama-chat": (ZEPHYR, dict(ZEPHYR_TOKENS, pad_token="</s>"), None),
    "chatml": (CHATML, {}, "chatml"),
}

CONVERSATIONS = {
    "single_turn": [{"role": "user", "content": "Hello!"}],
    "system_multi_turn": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3+3?"},
    ],
    "empty_system": [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}],
    "unicode": [
        {"role": "user", "content": "Grüße 👋 世界 — \"quoted\" and 'single'\ttab \\ backslash {{ not jinja }}"},
        {"role": "assistant", "content": "Ça va? ✓ e\u0301 (combining) \u00a0nbsp"},
        {"role": "user", "content": "日本語で答えて"},
    ],
    "assistant_last": [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
    ],
    "surrounding_whitespace": [
        {"role": "system", "content": "  spaced system  \n"},
        {"role": "user", "content": "\n\n  indented question\t"},
        {"role": "assistant", "content": " answer with trailing newline\n"},
    ],
    "long_multi_turn": [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
        {"role": "assistant", "content": "four"},
        {"role": "user", "content": "five"},
        {"role": "assistant", "content": "six"},
        {"role": "user", "content": "seven"},
    ],
}

PREFERENCE_EXAMPLES = {
    "single_turn": {
        "prompt": [{"role": "user", "content": "Is 2+2=5?"}],
        "chosen": [{"role": "assistant", "content": "No, 4."}],
        "rejected": [{"role": "assistant", "content": "Yes."}],
    },
    "with_system_and_history": {
        "prompt": [
            {"role": "system", "content": "Be honest."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello 👋"},
            {"role": "user", "content": "Is the moon made of cheese?"},
        ],
        "chosen": [{"role": "assistant", "content": "No, it is rock."}],
        "rejected": [{"role": "assistant", "content": "Yes, gouda."}],
    },
}


# Small templates exercising one interpreter feature each, rendered by transformers' own Jinja environment (the one
# apply_chat_template compiles templates with). Data come from literals inside the templates. A case whose
# rendering raises records the exception instead.
INTERPRETER_CASES = {
    "text_only": "plain text\nwith two lines\n",
    "crlf_newlines": "a\r\nb\rc{% if true %}\r\nd{% endif %}\r\n",
    "trim_blocks": "{% if true %}\nyes\n{% endif %}\nafter",
    "lstrip_blocks": "  {% if true %}\n  indented\n  {% endif %}\n  {{ 'v' }}  {% if true %}x{% endif %}",
    "strip_markers": "a  {%- if true -%}  b  {%- endif %}  \n c {{- ' d ' -}} \n e",
    "plus_markers": "  {%+ if true +%}\nkept{% endif %}",
    "comments": "a {# note #}b\n  {# own line #}\nc {#- tight -#} d",
    "output_does_not_trim": "{{ 'x' }}\n{{ 'y' }}\n",
    "string_escapes": r"""{{ 'tab\there' }}|{{ "q\"q" }}|{{ 'it\'s' }}|{{ '\x41\u00e9\101' }}|{{ '\d\\' }}|{{ 'a' 'b' }}""",
    "literals_print_like_python": "{{ none }}|{{ true }}|{{ [1, 'a', none, 1.5, [true]] }}|{{ {'k': \"it's\", 'n': 2} }}|{{ 1e3 }}",
    "arithmetic": "{{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 0.1 + 0.2 }} {{ 3 * 'ab' }} {{ [1] + [2] }} {{ 2 - 5 }}",
    "precedence": "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 'a' ~ (1 + 2) ~ 'b' }} {{ not 1 == 2 }} {{ ' x '|trim ~ 'y' }}",
    "comparisons": "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'x' != 'y' }} {{ [1, 2] == [1, 2] }} {{ none == none }}",
    "membership": "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 'x' in undefined_name }}",
    "logic_returns_operands": "{{ 0 or 'fallback' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}|{{ not none }}",
    "ternary": "[{{ 'yes' if true else 'no' }}][{{ 'yes' if false else 'no' }}][{{ 'yes' if false }}]",
    "undefined_is_empty_and_falsy": "[{{ missing }}][{{ missing|length }}][{% if missing %}t{% else %}f{% endif %}][{{ missing is defined }}][{{ missing ~ 'x' }}]",
    "missing_key_is_undefined": "{% set d = {'a': 1} %}[{{ d.b }}][{{ d['b'] }}][{{ d.b is defined }}][{{ d.a }}][{{ d['a'] }}]",
    "attribute_of_undefined_fails": "{{ missing.attribute }}",
    "undefined_arithmetic_fails": "{{ 'a' + missing }}",
    "dict_attribute_prefers_methods": "{% set d = {'items': 'value', 'x': 1} %}{{ d['items'] }}|{{ d.x }}|{{ d.items()|list|length }}|{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}",
    "subscripts_and_slices": "{% set l = [1, 2, 3, 4, 5] %}{{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[:2] }} {{ l[::2] }} {{ l[::-1] }} {{ l[-2:] }} {{ 'héllo'[1:3] }} {{ 'abc'[-1] }} [{{ l[10] }}]",
    "for_loop_variables": "{% for x in ['a', 'b', 'c'] %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('o', 'e') }} {% endfor %}",
    "for_over_dict_and_items": "{% set d = {'b': 1, 'a': 2} %}{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}",
    "for_with_filter_and_else": "{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }}{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}",
    "for_break_continue": "{% for x in range(10) %}{% if x == 1 %}{% continue %}{% endif %}{% if x > 3 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "nested_loops": "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}/{{ loop.index }} {% endfor %}",
    "loop_scoping": "{% set x = 'outer' %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}{{ x }}",
    "if_scoping": "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}",
    "namespace": "{% set ns = namespace(count=0, found=false) %}{% for x in [1, 2, 3] %}{% set ns.count = ns.count + x %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} [{{ ns.missing }}]",
    "set_block_and_tuple": "{% set greeting %}Hello {{ 'world' }}{% endset %}{{ greeting|upper }}|{% set a, b = 1, 2 %}{{ a }}{{ b }}",
    "if_elif_else": "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}",
    "tests": "{{ none is none }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ 1.5 is float }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is not none }} {{ 'x' is in 'xyz' }} {{ 1 is eq 1 }} {{ 'ab' is lower }} {{ true is boolean }} {{ none is sameas none }}",
    "filters_text": "{{ '  pad  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'MiXed'|lower }}|{{ 'MiXed'|upper }}|{{ 'hello wORLD'|capitalize }}|{{ 'hello-big world'|title }}|{{ 'aaa'|replace('a', 'b', 2) }}|{{ 42|string ~ '!' }}|{{ '<b>'|safe }}",
    "filters_sequences": "{{ [3, 1, 2]|length }} {{ 'héllo'|length }} {{ {'a': 1}|count }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|list }} {{ [1, 2]|reverse|list }} {{ ['a', 'b']|join(', ') }} {{ [1, 2]|join }} {{ {'x': 1, 'y': 2}|items|map('last')|list }}",
    "filters_default": "[{{ missing|default('dflt') }}][{{ ''|default('dflt') }}][{{ ''|default('dflt', true) }}][{{ none|d('x') }}][{{ 0|default(5, boolean=true) }}]",
    "filters_numbers": "{{ '42'|int + 1 }} {{ 'x'|int }} {{ 3.9|int }} {{ '2.5'|float }} {{ -3|abs }} {{ 'nope'|int(7) }}",
    "filters_map_select": "{% set ms = [{'role': 'system', 'c': 1}, {'role': 'user', 'c': 2}, {'role': 'user', 'c': 3}] %}{{ ms|map(attribute='role')|list }} {{ ms|selectattr('role', 'equalto', 'user')|map(attribute='c')|list }} {{ ms|rejectattr('role', 'eq', 'user')|list|length }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ ['a', 'code_interpreter', 'b']|reject('equalto', 'code_interpreter')|join(', ') }} {{ ['a', 'B']|map('upper')|join }} {{ [0, 1, '', 'x']|select|list }}",
    "filter_indent": "{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(3, true) }}|{{ 'x\n\ny'|indent('> ', blank=true) }}",
    "tojson": "{{ {'s': 'é\n\"q\" \\\\ \t', 'n': none, 'b': true, 'l': [1, 2.5, []], 'd': {}}|tojson }}|{{ 'x'|tojson }}|{{ [1, {'a': [2]}]|tojson(indent=2) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ '✓'|tojson(ensure_ascii=true) }}|{{ [1, 2]|tojson(separators=[',', ':']) }}",
    "tojson_undefined_fails": "{{ missing|tojson }}",
    "string_methods": "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ '  s  '.strip() }}|{{ 'xsx'.strip('x') }}|{{ '  s'.lstrip() }}|{{ 's  '.rstrip() }}|{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'l1\nl2\r\nl3'.splitlines() }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }} {{ 'they\\'re here'.title() }} {{ 'aXa'.replace('a', 'b') }} {{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'aaa'.count('a') }} {{ '-'.join(['x', 'y']) }} {{ 'prefix-body'.removeprefix('prefix-') }} {{ '12'.isdigit() }} {{ ' '.isspace() }}",
    "dict_methods": "{% set d = {'a': 1, 'b': none} %}{{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }} {{ dict(x=1, y=2) }}",
    "whitespace_heavy_template": "{%- for m in ['a', 'b'] %}\n    {%- if m == 'a' %}\n        {{- 'A' }}\n    {%- else %}\n        {{- '\\n' + m }}\n    {%- endif %}\n{%- endfor %}\n",
    "raise_exception": "{% if true %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}",
    "nested_data_access": "{% set msgs = [{'role': 'user', 'content': 'hi', 'tool_calls': [{'function': {'name': 'f', 'arguments': {'x': 1}}}]}] %}{{ msgs[0].tool_calls[0].function.name }} {{ msgs[0]['tool_calls'][0]['function']['arguments']|tojson }} {{ 'tool_calls' in msgs[0] }} {{ msgs[0].tool_calls|length }} {{ msgs[-1].role }}",
    "macros": "{% macro tag(name, body='-', close=true) %}<{{ name }}>{{ body }}{% if close %}</{{ name }}>{% endif %}{% endmacro %}{% set top = 'T' %}{% macro uses_top() %}[{{ top }}]{% endmacro %}{{ tag('a') }}|{{ tag('b', 'x', close=false) }}|{{ tag(name='c', body=1) }}|{% for i in [1] %}{% set top = 'loop' %}{{ uses_top() }}{% endfor %}|{{ tag('d')|length }}|{{ tag('e') ~ '!' }}",
    "macro_recursion_and_namespace": "{% set ns = namespace(calls=0) %}{% macro count_down(n) %}{% set ns.calls = ns.calls + 1 %}{% if n > 0 %}{{ n }}{{ count_down(n - 1) }}{% endif %}{% endmacro %}{{ count_down(3) }} {{ ns.calls }}",
    "macro_missing_argument_is_undefined": "{% macro m(a, b) %}[{{ a }}][{{ b }}][{{ b is defined }}]{% endmacro %}{{ m(1) }}",
    "macro_too_many_arguments_fails": "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "sorting": "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort|map('first')|list }} {{ {'b': 1, 'A': 2, 'c': 0}|dictsort(by='value', reverse=true)|map('last')|list }} {% for k, v in {'y': 1, 'x': 2}|dictsort %}{{ k }}{{ v }}{% endfor %} {{ ['b', 'a', 'B']|sort }} {{ ['b', 'a', 'B']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ [{'n': 2}, {'n': 1}]|sort(attribute='n')|map(attribute='n')|list }}",
    "generation_tag": "{% for m in ['a', 'b'] %}{% if m == 'b' %}{% generation %}<{{ m }}>{% endgeneration %}{% else %}{{ m }}{% endif %}{% endfor %}",
    "range_and_math": "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5)|list|length }} {{ (10 / 4)|int }}",
}

def make_tokenizer(source, special_tokens):
    vocabulary = {"<unk>": 0}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>")),
                                        **special_tokens)
    tokenizer.chat_template = source
    return tokenizer


def render_interpreter_cases():
    """Renders each INTERPRETER_CASES template the way apply_chat_template compiles templates."""
    from transformers.utils.chat_template_utils import _compile_jinja_template

    results = []
    for name, source in INTERPRETER_CASES.items():
        try:
            results.append({"name": name, "source": source, "text": _compile_jinja_template(source).render()})
        except Exception as error:  # the error class and message are the expected outcome
            results.append({"name": name, "source": source, "error": type(error).__name__, "message": str(error)})
    return results


def render_published_templates():
    """Renders TRL's stored copies of published chat templates (Qwen3, Gemma, Phi-3, DeepSeek, gpt-oss, …)."""
    directory = os.path.join(os.path.dirname(trl.__file__), "chat_templates")
    tokens = {"bos_token": "<s>", "eos_token": "</s>"}
    results = []
    for path in sorted(glob.glob(os.path.join(directory, "*.jinja"))):
        source = open(path, encoding="utf-8").read()
        if path.endswith("_training.jinja") or "strftime_now" in source:
            continue
        tokenizer = make_tokenizer(source, tokens)
        renderings = []
        for conversation in ("single_turn", "system_multi_turn", "unicode", "assistant_last"):
            for add_generation_prompt in (False, True):
                rendering = {"conversation": conversation, "add_generation_prompt": add_generation_prompt}
                try:
                    rendering["text"] = tokenizer.apply_chat_template(
                        CONVERSATIONS[conversation], tokenize=False, add_generation_prompt=add_generation_prompt)
                except Exception as error:  # the template rejects this conversation; Swift must reject it too
                    rendering["error"] = f"{type(error).__name__}: {error}"
                renderings.append(rendering)
        results.append({"name": os.path.basename(path), "source": source, "special_tokens": tokens,
                        "renderings": renderings})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="Tests/ChatTemplateTests/Fixtures/chat_templates")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    templates = []
    for name, (source, special_tokens, built_in) in TEMPLATES.items():
        tokenizer = make_tokenizer(source, special_tokens)
        assert tokenizer.special_tokens_map == special_tokens, (name, tokenizer.special_tokens_map)
        renderings = []
        for conversation, messages in CONVERSATIONS.items():
            for add_generation_prompt in (False, True):
                text = tokenizer.apply_chat_template(messages, tokenize=False,
                                                     add_generation_prompt=add_generation_prompt)
                renderings.append({"conversation": conversation, "add_generation_prompt": add_generation_prompt,
                                   "text": text})
        preferences = []
        for example_name, example in PREFERENCE_EXAMPLES.items():
            rendered = trl_apply_chat_template(example, tokenizer)
            preferences.append({"example": example_name, **rendered})
        templates.append({"name": name, "built_in": built_in, "source": source, "special_tokens": special_tokens,
                          "renderings": renderings, "preferences": preferences})

    fixture = {
        "generator": "tools/make_chat_template_fixtures.py",
        "versions": {"transformers": transformers.__version__, "jinja2": jinja2.__version__,
                     "tokenizers": tokenizers.__version__, "trl": trl.__version__},
        "conversations": CONVERSATIONS,
        "preference_examples": PREFERENCE_EXAMPLES,
        "templates": templates,
        "interpreter_cases": render_interpreter_cases(),
        "published_templates": render_published_templates(),
    }
    with open(os.path.join(args.out, "chat_templates.json"), "w", encoding="utf-8") as handle:
        json.dump(fixture, handle, ensure_ascii=False, indent=1)
        handle.write("\n")

    saved = make_tokenizer(QWEN2_5_INSTRUCT, TEMPLATES["qwen2.5-instruct"][1])
    saved.save_pretrained(os.path.join(args.out, "saved_tokenizer"))
    print(f"wrote {len(templates)} templates x {len(CONVERSATIONS)} conversations x 2 to {args.out}")


if __name__ == "__main__":
    main()
