/// Chat templates that a configuration can name when a model ships none, or one this interpreter cannot run.
/// Each is the Jinja source its model family publishes, rendered by the same interpreter as any other template.
enum BuiltInChatTemplates {
    struct Entry {
        let source: String
        /// Special tokens the template refers to, as the family's tokenizer config sets them; a tokenizer
        /// config's own values take precedence.
        let specialTokens: [String: String]
    }

    static let entries: [String: Entry] = [
        // ChatML, as transformers' former default template: <|im_start|>role\ncontent<|im_end|>\n per message.
        "chatml": Entry(
            source: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
                + "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                + "{% endif %}",
            specialTokens: [:]),
        // Meta-Llama-3-8B-Instruct.
        "llama3": Entry(
            source: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                + "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                + "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                + "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
                + "<|end_header_id|>\n\n' }}{% endif %}",
            specialTokens: ["bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"]),
        // HuggingFaceH4/zephyr-7b-beta (TinyLlama-1.1B-Chat-v1.0 ships the same text).
        "zephyr": Entry(
            source: "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + "
                + "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + "
                + "message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'"
                + "  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n"
                + "{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
            specialTokens: ["bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"]),
    ]
}
