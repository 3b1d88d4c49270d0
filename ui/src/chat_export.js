// A conversation as a file: JSON (everything, for tools) or Markdown (for people), and the one
// line that sums up an answer (tokens, cost, latency), shown under it and in the Markdown.
import * as fmt from './format.js';

// "12 prompt + 40 completion tokens · $0.000603 · first token 301 ms · total 1.87 s · gpt-4.1@mock"
export function summary(answer) {
  const parts = [];
  const u = answer.usage;
  if (u) {
    parts.push(`${fmt.int(u.prompt_tokens)} prompt + ${fmt.int(u.completion_tokens)} completion tokens`);
    if (typeof u.cost === 'number') parts.push(fmt.usd(u.cost));
  }
  if (answer.ttft !== null && answer.ttft !== undefined) parts.push(`first token ${fmt.seconds(answer.ttft)}`);
  if (answer.total !== null && answer.total !== undefined) parts.push(`total ${fmt.seconds(answer.total)}`);
  if (answer.deployment) parts.push(answer.deployment);
  if (answer.servedModel) parts.push(`fallback ${answer.servedModel}`);
  if (answer.finish && answer.finish !== 'stop') parts.push(`finish: ${answer.finish}`);
  if (answer.stopped) parts.push('stopped');
  return parts.join(' · ');
}

// Seconds to the millisecond, for the JSON.
function seconds(s) {
  return typeof s === 'number' ? Math.round(s * 1000) / 1000 : undefined;
}

// conversation: {model, system, parameters, messages: [{role, content, answer?}]}
export function toJson(conversation) {
  const messages = conversation.messages.map((m) => {
    if (m.role !== 'assistant') return { role: m.role, content: m.content };
    const a = m.answer ?? {};
    return {
      role: 'assistant',
      content: m.content,
      ...(a.reasoning ? { reasoning: a.reasoning } : {}),
      model: m.model,
      deployment: a.deployment || undefined,
      request_id: a.requestId || undefined,
      usage: a.usage ?? undefined,
      time_to_first_token_s: seconds(a.ttft),
      total_s: seconds(a.total),
      finish_reason: a.finish ?? undefined,
      error: a.error || undefined,
      stopped: a.stopped || undefined,
    };
  });
  const doc = {
    exported_at: new Date().toISOString(),
    model: conversation.model,
    system: conversation.system || undefined,
    parameters: conversation.parameters,
    messages,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function toMarkdown(conversation) {
  const models = [...new Set(conversation.messages.filter((m) => m.model).map((m) => m.model))];
  const out = ['# Conversation', ''];
  out.push(`_Exported ${fmt.time(Date.now())}${models.length ? `; models: ${models.join(', ')}` : ''}._`, '');
  const params = Object.entries(conversation.parameters).map(([k, v]) => `${k} ${v}`);
  if (params.length) out.push(`Parameters: ${params.join(', ')}.`, '');
  if (conversation.system) out.push('## System', '', conversation.system, '');
  for (const m of conversation.messages) {
    if (m.role === 'user') {
      out.push('## User', '', m.content, '');
      continue;
    }
    out.push(`## Assistant (${m.model})`, '', m.content || '_(no text)_', '');
    const a = m.answer ?? {};
    if (a.error) out.push(`> Error: ${a.error}`, '');
    const line = summary(a);
    if (line) out.push(`_${line}_`, '');
  }
  return out.join('\n');
}
