// One chat completion, streamed: POST /v1/chat/completions with stream and include_usage, read
// as server-sent events, reduced to an answer the view renders as it grows.
import { ApiError, errorFromBody, send } from './api.js';
import { readEvents } from './sse.js';

// The answer so far. Times are seconds measured here (the client's view, network included).
function emptyAnswer() {
  return {
    content: '',
    reasoning: '', // reasoning_content deltas (thinking models)
    usage: null, // the final usage chunk: prompt_tokens, completion_tokens, cost (USD)
    finish: null, // finish_reason
    deployment: '', // X-Shepherd-Deployment: the deployment that served
    servedModel: '', // X-Shepherd-Model: set when a fallback model served
    requestId: '',
    ttft: null, // time to the first token
    total: null,
    error: '', // the gateway's error, for people
    stopped: false, // aborted by the user
  };
}

// Sends `body` (the request without stream members) and resolves with the final answer;
// onUpdate(answer) is called after each delta. Never rejects: failures land in answer.error.
export async function streamChat(body, { signal, onUpdate }) {
  const answer = emptyAnswer();
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  try {
    const r = await send('/v1/chat/completions', {
      method: 'POST',
      body: { ...body, stream: true, stream_options: { include_usage: true } },
      signal,
    });
    answer.deployment = r.headers.get('X-Shepherd-Deployment') ?? '';
    answer.servedModel = r.headers.get('X-Shepherd-Model') ?? '';
    answer.requestId = r.headers.get('X-Request-Id') ?? '';
    if (!r.ok) throw errorFromBody(r.status, await r.text());
    if (!(r.headers.get('Content-Type') ?? '').startsWith('text/event-stream')) {
      // A whole answer after all: its cost is in X-Shepherd-Cost.
      wholeAnswer(answer, JSON.parse(await r.text()), r.headers.get('X-Shepherd-Cost'));
      answer.ttft = elapsed();
    } else {
      let done = false;
      await readEvents(r, (e) => {
        if (done) return;
        if (e.data === '[DONE]') {
          done = true;
          return;
        }
        if (applyChunk(answer, parseChunk(e.data)) && answer.ttft === null) answer.ttft = elapsed();
        onUpdate(answer);
      });
      if (!done) throw new ApiError(0, 'the stream ended before it was complete');
    }
  } catch (e) {
    if (e.name === 'AbortError') answer.stopped = true;
    else answer.error = e instanceof ApiError ? e.describe() : String(e?.message ?? e);
  }
  answer.total = elapsed();
  return answer;
}

function parseChunk(data) {
  let chunk;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new ApiError(0, `the gateway sent an event that is not JSON: ${data.slice(0, 200)}`);
  }
  // A stream that fails after it started ends with data: {"error": {...}} and no [DONE].
  if (chunk?.error) {
    const e = chunk.error;
    throw new ApiError(0, e.message ?? JSON.stringify(e), { type: e.type ?? '', code: e.code ?? '' });
  }
  return chunk;
}

// Folds one chunk into the answer; true when it carried text (the first token's time).
function applyChunk(answer, chunk) {
  if (chunk.usage) answer.usage = chunk.usage;
  const choice = chunk.choices?.[0];
  if (!choice) return false;
  if (choice.finish_reason) answer.finish = choice.finish_reason;
  const delta = choice.delta ?? {};
  if (typeof delta.reasoning_content === 'string') answer.reasoning += delta.reasoning_content;
  if (typeof delta.content === 'string') answer.content += delta.content;
  return Boolean(delta.content || delta.reasoning_content);
}

function wholeAnswer(answer, json, costHeader) {
  const choice = json.choices?.[0];
  answer.content = choice?.message?.content ?? '';
  answer.reasoning = choice?.message?.reasoning_content ?? '';
  answer.finish = choice?.finish_reason ?? null;
  answer.usage = json.usage ?? null;
  if (answer.usage && costHeader !== null && answer.usage.cost === undefined) answer.usage.cost = Number(costHeader);
}
