/* Chat formats: byte-exact prompts, detection, names. */
#include "cseek.h"
#include "test.h"

#include <stdbool.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The chat templates as the GGUF files carry them (tokenizer.chat_template). */
/* DeepSeek-R1 (tokenizer_config.json after the 2025 update that ends the
 * generation prompt with "<think>\n") */
static const char *tmpl_r1 =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% se"
    "t ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp="
    "true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}{"
    "% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%-"
    " else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%-"
    " endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if mess"
    "age['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %"
    "}{%- if message['role'] == 'assistant' and 'tool_calls' in message %}{%- set ns.is_tool = false -%}{"
    "%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}{%- if message['content'] is none %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['fun"
    "ction']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜too"
    "l▁call▁end｜>'}}{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜tool▁calls▁begin｜><｜tool▁call▁"
    "begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + to"
    "ol['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- endif %}{%- set ns.is_first ="
    " true -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function"
    "']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁cal"
    "l▁end｜>'}}{%- endif %}{%- endfor %}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- if mes"
    "sage['role'] == 'assistant' and 'tool_calls' not in message %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁"
    "end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set"
    " content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</thin"
    "k>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{"
    "%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool"
    "▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_o"
    "utput_first = false %}{%- else %}{{'<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end"
    "｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{"
    "% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}";
/* DeepSeek-V3 */
static const char *tmpl_v3 =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% se"
    "t ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp="
    "true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}{"
    "% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%-"
    " else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%-"
    " endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message["
    "'role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%-"
    " if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%"
    "- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜"
    "tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + "
    "'\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = t"
    "rue -%}{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']"
    "['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁"
    "end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if messa"
    "ge['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs"
    "▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{{'<｜"
    "Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['r"
    "ole'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜>"
    "<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = fa"
    "lse %}{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endi"
    "f %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_gene"
    "ration_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}";
/* Qwen2.5-Instruct, the branch without tools */
static const char *tmpl_qwen =
    "{%- if messages[0]['role'] == 'system' %}\n    {{- '<|im_start|>system\\n' + messages[0]['content'] "
    "+ '<|im_end|>\\n' }}\n{%- else %}\n    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cl"
    "oud. You are a helpful assistant.<|im_end|>\\n' }}\n{%- endif %}\n{%- for message in messages %}\n  "
    "  {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.r"
    "ole == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\"
    "n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generati"
    "on_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}";
/* Meta-Llama-3-Instruct */
static const char *tmpl_llama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header"
    "_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% "
    "if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% "
    "if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* ---- generated: the conversations below rendered by the models' real Jinja
 * templates with jinja2 (trim_blocks, lstrip_blocks, as transformers does) ---- */
static const cs_chat_message conv_single[] = {
    {CS_ROLE_USER, "Hello"},
};
static const cs_chat_message conv_single_sys[] = {
    {CS_ROLE_SYSTEM, "You are a helpful assistant."},
    {CS_ROLE_USER, "Hello"},
};
static const cs_chat_message conv_multi[] = {
    {CS_ROLE_USER, "What is 2+2?"},
    {CS_ROLE_ASSISTANT, "4"},
    {CS_ROLE_USER, "And 3+3?"},
};
static const cs_chat_message conv_multi_sys2[] = {
    {CS_ROLE_SYSTEM, "Be brief."},
    {CS_ROLE_USER, "Hi"},
    {CS_ROLE_ASSISTANT, "Hello!"},
    {CS_ROLE_SYSTEM, "Answer in French."},
    {CS_ROLE_USER, "How are you?"},
};
static const cs_chat_message conv_think[] = {
    {CS_ROLE_USER, "Why?"},
    {CS_ROLE_ASSISTANT, "<think>\nLet me see.\n</think>\n\nBecause."},
    {CS_ROLE_USER, "Sure?"},
};
static const cs_chat_message conv_think2[] = {
    {CS_ROLE_USER, "q"},
    {CS_ROLE_ASSISTANT, "a</think>b</think>\nc"},
    {CS_ROLE_USER, "q2"},
};
static const cs_chat_message conv_utf8_ws[] = {
    {CS_ROLE_SYSTEM, "  系统  "},
    {CS_ROLE_USER, "  你好 👋\n"},
    {CS_ROLE_ASSISTANT, "\n 你好！ \n"},
    {CS_ROLE_USER, "再见"},
};
static const cs_chat_message conv_ends_assistant[] = {
    {CS_ROLE_USER, "Hi"},
    {CS_ROLE_ASSISTANT, "Hello"},
};
static const struct {
    const char *conv_name;
    const cs_chat_message *msgs;
    int n;
    const char *format;
    bool gen;
    const char *want;
} golden[] = {
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜><think>\n"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜><｜User｜>Hello"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜>"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜><｜User｜>Hello"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "qwen2.5", true,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "qwen2.5", false,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"single", conv_single, (int)(sizeof conv_single / sizeof conv_single[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello<｜Assistant｜><think>\n"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello<｜Assistant｜>"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "qwen2.5", true,
     "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "qwen2.5", false,
     "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"single_sys", conv_single_sys, (int)(sizeof conv_single_sys / sizeof conv_single_sys[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜><think>\n"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>And 3+3?"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜>"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>And 3+3?"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "qwen2.5", true,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "qwen2.5", false,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"multi", conv_multi, (int)(sizeof conv_multi / sizeof conv_multi[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜>Be brief.\n\nAnswer in French.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>How are you?<｜Assistant｜><think>\n"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜>Be brief.\n\nAnswer in French.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>How are you?"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜>Be brief.\n\nAnswer in French.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>How are you?<｜Assistant｜>"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜>Be brief.\n\nAnswer in French.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>How are you?"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "qwen2.5", true,
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "qwen2.5", false,
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nAnswer in French.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"multi_sys2", conv_multi_sys2, (int)(sizeof conv_multi_sys2 / sizeof conv_multi_sys2[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nAnswer in French.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜><｜User｜>Why?<｜Assistant｜>\n\nBecause.<｜end▁of▁sentence｜><｜User｜>Sure?<｜Assistant｜><think>\n"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜><｜User｜>Why?<｜Assistant｜>\n\nBecause.<｜end▁of▁sentence｜><｜User｜>Sure?"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜><｜User｜>Why?<｜Assistant｜><think>\nLet me see.\n</think>\n\nBecause.<｜end▁of▁sentence｜><｜User｜>Sure?<｜Assistant｜>"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜><｜User｜>Why?<｜Assistant｜><think>\nLet me see.\n</think>\n\nBecause.<｜end▁of▁sentence｜><｜User｜>Sure?"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "qwen2.5", true,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n<think>\nLet me see.\n</think>\n\nBecause.<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\n"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "qwen2.5", false,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n<think>\nLet me see.\n</think>\n\nBecause.<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nLet me see.\n</think>\n\nBecause.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nSure?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"think", conv_think, (int)(sizeof conv_think / sizeof conv_think[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n<think>\nLet me see.\n</think>\n\nBecause.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nSure?<|eot_id|>"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>\nc<｜end▁of▁sentence｜><｜User｜>q2<｜Assistant｜><think>\n"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>\nc<｜end▁of▁sentence｜><｜User｜>q2"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>a</think>b</think>\nc<｜end▁of▁sentence｜><｜User｜>q2<｜Assistant｜>"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>a</think>b</think>\nc<｜end▁of▁sentence｜><｜User｜>q2"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "qwen2.5", true,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\na</think>b</think>\nc<|im_end|>\n<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "qwen2.5", false,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\na</think>b</think>\nc<|im_end|>\n<|im_start|>user\nq2<|im_end|>\n"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\na</think>b</think>\nc<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nq2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"think2", conv_think2, (int)(sizeof conv_think2 / sizeof conv_think2[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\na</think>b</think>\nc<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nq2<|eot_id|>"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜>  系统  <｜User｜>  你好 👋\n<｜Assistant｜>\n 你好！ \n<｜end▁of▁sentence｜><｜User｜>再见<｜Assistant｜><think>\n"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜>  系统  <｜User｜>  你好 👋\n<｜Assistant｜>\n 你好！ \n<｜end▁of▁sentence｜><｜User｜>再见"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜>  系统  <｜User｜>  你好 👋\n<｜Assistant｜>\n 你好！ \n<｜end▁of▁sentence｜><｜User｜>再见<｜Assistant｜>"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜>  系统  <｜User｜>  你好 👋\n<｜Assistant｜>\n 你好！ \n<｜end▁of▁sentence｜><｜User｜>再见"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "qwen2.5", true,
     "<|im_start|>system\n  系统  <|im_end|>\n<|im_start|>user\n  你好 👋\n<|im_end|>\n<|im_start|>assistant\n\n 你好！ \n<|im_end|>\n<|im_start|>user\n再见<|im_end|>\n<|im_start|>assistant\n"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "qwen2.5", false,
     "<|im_start|>system\n  系统  <|im_end|>\n<|im_start|>user\n  你好 👋\n<|im_end|>\n<|im_start|>assistant\n\n 你好！ \n<|im_end|>\n<|im_start|>user\n再见<|im_end|>\n"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n系统<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n你好 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n你好！<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n再见<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"utf8_ws", conv_utf8_ws, (int)(sizeof conv_utf8_ws / sizeof conv_utf8_ws[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n系统<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n你好 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n你好！<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n再见<|eot_id|>"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "deepseek-r1", true,
     "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜><｜Assistant｜><think>\n"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "deepseek-r1", false,
     "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜>"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "deepseek-v3", true,
     "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜><｜Assistant｜>"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "deepseek-v3", false,
     "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜>"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "qwen2.5", true,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "qwen2.5", false,
     "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "llama3", true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"ends_assistant", conv_ends_assistant, (int)(sizeof conv_ends_assistant / sizeof conv_ends_assistant[0]), "llama3", false,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"},
};

static void check_render(cs_chat_format f, const cs_chat_message *m, int n, bool gen, const char *want,
                         const char *what) {
    char *got = cs_chat_render(f, m, n, gen);
    CHECKF(got != NULL, "%s: %s", what, cs_last_error());
    if (!got) return;
    CHECKF(strcmp(got, want) == 0, "%s (%s, gen=%d):\n    got  [%s]\n    want [%s]", what, cs_chat_format_name(f),
           (int)gen, got, want);
    free(got);
}

static void test_golden(void) {
    for (size_t i = 0; i < ARRAY_LEN(golden); i++) {
        cs_chat_format f;
        CHECK(cs_chat_format_from_name(golden[i].format, &f) == 0);
        check_render(f, golden[i].msgs, golden[i].n, golden[i].gen, golden[i].want, golden[i].conv_name);
    }
}

#define BOS "<｜begin▁of▁sentence｜>"
#define EOS "<｜end▁of▁sentence｜>"

static void test_deepseek_by_hand(void) {
    const cs_chat_message one[] = {{CS_ROLE_USER, "Hello"}};
    check_render(CS_CHAT_DEEPSEEK_R1, one, 1, true, BOS "<｜User｜>Hello<｜Assistant｜><think>\n", "r1 single");
    check_render(CS_CHAT_DEEPSEEK_V3, one, 1, true, BOS "<｜User｜>Hello<｜Assistant｜>", "v3 single");
    check_render(CS_CHAT_DEEPSEEK_R1, one, 1, false, BOS "<｜User｜>Hello", "r1 no generation prompt");

    const cs_chat_message sys[] = {{CS_ROLE_SYSTEM, "S1"},
                                   {CS_ROLE_USER, "Hi"},
                                   {CS_ROLE_ASSISTANT, "<think>\nhmm\n</think>\n\nHello!"},
                                   {CS_ROLE_SYSTEM, "S2"},
                                   {CS_ROLE_USER, "How?"}};
    check_render(CS_CHAT_DEEPSEEK_R1, sys, 5, true,
                 BOS "S1\n\nS2<｜User｜>Hi<｜Assistant｜>\n\nHello!" EOS "<｜User｜>How?<｜Assistant｜><think>\n",
                 "r1 two systems, earlier reasoning dropped");
    check_render(CS_CHAT_DEEPSEEK_V3, sys, 5, true,
                 BOS "S1\n\nS2<｜User｜>Hi<｜Assistant｜><think>\nhmm\n</think>\n\nHello!" EOS
                     "<｜User｜>How?<｜Assistant｜>",
                 "v3 keeps answers as they are");

    /* NULL content counts as empty; an empty conversation is just the BOS */
    const cs_chat_message nul[] = {{CS_ROLE_USER, NULL}};
    check_render(CS_CHAT_DEEPSEEK_V3, nul, 1, true, BOS "<｜User｜><｜Assistant｜>", "NULL content");
    check_render(CS_CHAT_DEEPSEEK_R1, NULL, 0, false, BOS, "empty");
    check_render(CS_CHAT_QWEN25, NULL, 0, true,
                 "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                 "assistant.<|im_end|>\n<|im_start|>assistant\n",
                 "qwen empty");
    check_render(CS_CHAT_LLAMA3, NULL, 0, true, "<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\n",
                 "llama3 empty (BOS kept: a deliberate deviation)");
}

static void test_bad_input(void) {
    const cs_chat_message bad[] = {{(cs_chat_role)7, "x"}};
    CHECK(cs_chat_render(CS_CHAT_DEEPSEEK_R1, bad, 1, true) == NULL);
    CHECK(strstr(cs_last_error(), "role") != NULL);
    CHECK(cs_chat_render((cs_chat_format)99, NULL, 0, true) == NULL);
    CHECK(cs_chat_render(CS_CHAT_DEEPSEEK_R1, NULL, 2, true) == NULL);
}

static void test_detect(void) {
    CHECK(cs_chat_format_detect(tmpl_r1) == CS_CHAT_DEEPSEEK_R1);
    CHECK(cs_chat_format_detect(tmpl_v3) == CS_CHAT_DEEPSEEK_V3);
    CHECK(cs_chat_format_detect(tmpl_qwen) == CS_CHAT_QWEN25);
    CHECK(cs_chat_format_detect(tmpl_llama3) == CS_CHAT_LLAMA3);
    CHECK(cs_chat_template_recognized(tmpl_r1) && cs_chat_template_recognized(tmpl_llama3));
    /* the first R1 release: no "<think>" prefill, only the "</think>" split */
    CHECK(cs_chat_format_detect("{{'<｜Assistant｜>' + content.split('</think>')[-1]}}") == CS_CHAT_DEEPSEEK_R1);
    CHECK(cs_chat_format_detect(NULL) == CS_CHAT_FORMAT_DEFAULT);
    CHECK(cs_chat_format_detect("") == CS_CHAT_FORMAT_DEFAULT);
    CHECK(cs_chat_format_detect("{{ messages }}") == CS_CHAT_FORMAT_DEFAULT);
    CHECK(!cs_chat_template_recognized(NULL) && !cs_chat_template_recognized("{{ messages }}"));
    /* ASCII look-alikes of DeepSeek's fullwidth bars are not DeepSeek */
    CHECK(!cs_chat_template_recognized("<|Assistant|>"));
}

static void test_names(void) {
    const char *const *names = cs_chat_format_names();
    int n = 0;
    for (; names[n]; n++) {
        cs_chat_format f;
        CHECK(cs_chat_format_from_name(names[n], &f) == 0);
        CHECK(f == (cs_chat_format)n);
        CHECK(strcmp(cs_chat_format_name(f), names[n]) == 0);
    }
    CHECK(n == CS_CHAT_N_FORMATS);
    cs_chat_format f = CS_CHAT_LLAMA3;
    CHECK(cs_chat_format_from_name("chatml", &f) == -1);
    CHECK(f == CS_CHAT_LLAMA3);
    const char *e = cs_last_error();
    CHECK(strstr(e, "chatml") && strstr(e, "deepseek-r1") && strstr(e, "deepseek-v3") && strstr(e, "qwen2.5") &&
          strstr(e, "llama3"));
    CHECK(cs_chat_format_from_name(NULL, &f) == -1);

    CHECK(strcmp(cs_chat_format_bos(CS_CHAT_DEEPSEEK_R1), "<｜begin▁of▁sentence｜>") == 0);
    CHECK(strcmp(cs_chat_format_bos(CS_CHAT_DEEPSEEK_V3), "<｜begin▁of▁sentence｜>") == 0);
    CHECK(strcmp(cs_chat_format_bos(CS_CHAT_QWEN25), "") == 0);
    CHECK(strcmp(cs_chat_format_bos(CS_CHAT_LLAMA3), "<|begin_of_text|>") == 0);
    CHECK(strcmp(cs_chat_format_end_of_turn(CS_CHAT_DEEPSEEK_R1), "<｜end▁of▁sentence｜>") == 0);
    CHECK(strcmp(cs_chat_format_end_of_turn(CS_CHAT_QWEN25), "<|im_end|>") == 0);
    CHECK(strcmp(cs_chat_format_end_of_turn(CS_CHAT_LLAMA3), "<|eot_id|>") == 0);
    CHECK(cs_chat_format_prefills_think(CS_CHAT_DEEPSEEK_R1));
    CHECK(!cs_chat_format_prefills_think(CS_CHAT_DEEPSEEK_V3));
    CHECK(!cs_chat_format_prefills_think(CS_CHAT_QWEN25));
    CHECK(!cs_chat_format_prefills_think(CS_CHAT_LLAMA3));

    /* every rendered prompt starts with the format's BOS */
    const cs_chat_message one[] = {{CS_ROLE_USER, "x"}};
    for (int i = 0; i < CS_CHAT_N_FORMATS; i++) {
        char *p = cs_chat_render((cs_chat_format)i, one, 1, true);
        const char *bos = cs_chat_format_bos((cs_chat_format)i);
        CHECK(p && strncmp(p, bos, strlen(bos)) == 0);
        /* the R1 prompt ends with the prefill the flag announces */
        if (p && cs_chat_format_prefills_think((cs_chat_format)i))
            CHECK(strlen(p) >= 8 && strcmp(p + strlen(p) - 8, "<think>\n") == 0);
        free(p);
    }
}

static void test_roles(void) {
    cs_chat_role r;
    CHECK(cs_chat_role_from_name("system", &r) == 0 && r == CS_ROLE_SYSTEM);
    CHECK(cs_chat_role_from_name("developer", &r) == 0 && r == CS_ROLE_SYSTEM);
    CHECK(cs_chat_role_from_name("user", &r) == 0 && r == CS_ROLE_USER);
    CHECK(cs_chat_role_from_name("assistant", &r) == 0 && r == CS_ROLE_ASSISTANT);
    CHECK(cs_chat_role_from_name("tool", &r) == -1);
    CHECK(strstr(cs_last_error(), "tool") != NULL);
    CHECK(cs_chat_role_from_name(NULL, &r) == -1);
}

int main(void) {
    RUN(test_golden);
    RUN(test_deepseek_by_hand);
    RUN(test_bad_input);
    RUN(test_detect);
    RUN(test_names);
    RUN(test_roles);
    TEST_END();
}
