// The chat playground: pick a model, set the sampling parameters, talk to it through the gateway
// and see what each answer cost and how long it took.
import { api, session } from './api.js';
import { summary, toJson, toMarkdown } from './chat_export.js';
import { streamChat } from './chat_stream.js';
import { download, field, h, notice } from './dom.js';
import * as fmt from './format.js';
import { renderMarkdown } from './markdown.js';

const MODELS_EVERY_MS = 5000;

export function createChatPage() {
  const messages = []; // {role, content, model?, answer?, view}
  let listed = []; // model ids from the last /v1/models
  let abort = null; // the AbortController of the answer being streamed
  let timer = 0;

  const model = h('select', { id: 'chat-model', testid: 'chat-model', onchange: updateModelNote });
  const modelNote = h('p', { class: 'notice warn', testid: 'chat-model-gone', role: 'status', hidden: true });
  const modelsError = h('p', { class: 'notice error', testid: 'chat-models-error', role: 'alert', hidden: true });
  const system = h('textarea', { id: 'chat-system', testid: 'chat-system', rows: 4, placeholder: 'Optional' });
  const number = (id, attrs) => h('input', { id, testid: id, type: 'number', placeholder: 'default', ...attrs });
  const temperature = number('chat-temperature', { min: 0, max: 2, step: 0.1 });
  const topP = number('chat-top-p', { min: 0, max: 1, step: 0.05 });
  const maxTokens = number('chat-max-tokens', { min: 1, step: 1 });
  const usage = h('p', { class: 'muted small', testid: 'chat-usage' });

  const transcript = h('div', { class: 'transcript', testid: 'chat-transcript' });
  // Announces finished answers once, rather than every streamed word.
  const announce = h('p', { class: 'visually-hidden', role: 'status' });
  const input = h('textarea', {
    id: 'chat-input',
    testid: 'chat-input',
    rows: 3,
    placeholder: 'Ask something (Enter sends, Shift+Enter starts a new line)',
    onkeydown: (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        sendMessage();
      }
    },
  });
  const button = (testid, text, onclick, cls = 'secondary') =>
    h('button', { type: 'button', testid, id: testid, class: cls, onclick }, text);
  const sendButton = h('button', { type: 'submit', testid: 'chat-send', id: 'chat-send' }, 'Send');
  const stopButton = button('chat-stop', 'Stop', () => abort?.abort());
  const regenerateButton = button('chat-regenerate', 'Regenerate', regenerate);
  const clearButton = button('chat-clear', 'Clear', clear);
  const exportJson = button('chat-export-json', 'Export JSON', () => exportAs('json'));
  const exportMd = button('chat-export-md', 'Export Markdown', () => exportAs('md'));
  const noChat = session.apiKey
    ? null
    : notice(
        'warn',
        'The master key opens the admin API only, not the chat API. Create a key on the Keys page ' +
          'and sign in with it to chat.',
        'chat-no-api-key',
      );

  const el = h(
    'section',
    { class: 'page chat', testid: 'page-chat', 'aria-labelledby': 'chat-title' },
    h('h1', { id: 'chat-title', class: 'visually-hidden' }, 'Chat'),
    h(
      'aside',
      { class: 'settings', 'aria-label': 'Chat settings' },
      field('Model', model),
      modelNote,
      modelsError,
      field('System prompt', system),
      h('div', { class: 'row' }, field('Temperature', temperature), field('Top p', topP)),
      field('Max tokens', maxTokens),
      usage,
    ),
    h(
      'div',
      { class: 'conversation' },
      noChat,
      transcript,
      announce,
      h(
        'form',
        { class: 'composer', testid: 'chat-form', onsubmit: (e) => (e.preventDefault(), sendMessage()) },
        h('label', { for: 'chat-input', class: 'visually-hidden' }, 'Message'),
        input,
        h(
          'div',
          { class: 'actions' },
          sendButton,
          stopButton,
          regenerateButton,
          clearButton,
          h('span', { class: 'spacer' }),
          exportJson,
          exportMd,
        ),
      ),
    ),
  );
  updateButtons();

  function updateButtons() {
    const busy = abort !== null;
    const last = messages[messages.length - 1];
    sendButton.disabled = busy || !session.apiKey || !model.value;
    input.disabled = !session.apiKey;
    stopButton.disabled = !busy;
    regenerateButton.disabled = busy || !last || last.role !== 'assistant';
    clearButton.disabled = !messages.length;
    exportJson.disabled = exportMd.disabled = !messages.length;
  }

  async function refreshModels() {
    if (!session.apiKey) return;
    try {
      const list = await api('/v1/models');
      listed = (list.data ?? []).map((m) => m.id);
      modelsError.hidden = true;
    } catch (e) {
      modelsError.textContent = `Models could not be listed: ${e.describe?.() ?? e.message}`;
      modelsError.hidden = false;
      return;
    }
    const chosen = model.value;
    const ids = chosen && !listed.includes(chosen) ? [...listed, chosen] : listed;
    const current = [...model.options].map((o) => o.value);
    if (ids.join('\n') !== current.join('\n') || model.options.length === 0) {
      model.replaceChildren(
        ...ids.map((id) =>
          h('option', { value: id }, listed.includes(id) ? id : `${id} (no longer listed)`),
        ),
      );
      model.value = chosen || ids[0] || '';
    } else {
      for (const o of model.options) o.textContent = listed.includes(o.value) ? o.value : `${o.value} (no longer listed)`;
    }
    updateModelNote();
  }

  function updateModelNote() {
    const gone = model.value && !listed.includes(model.value);
    modelNote.hidden = !gone;
    modelNote.textContent = gone ? `${model.value} is no longer listed by the gateway; requests to it may fail.` : '';
    updateButtons();
  }

  async function refreshUsage() {
    // A virtual key's own limits and budget (GET /v1/usage); nothing to show in open mode.
    if (!session.apiKey || !session.key || session.open) return;
    try {
      const u = await api('/v1/usage');
      const b = u.budget;
      const period = b?.period_end ? ` until ${fmt.time(b.period_end)}` : '';
      const budget = b ? ` · ${fmt.usd(b.spent_usd)} of its ${fmt.usd(b.usd)} budget spent${period}` : '';
      usage.textContent = `Key ${u.name ? `“${u.name}”` : u.key}${budget}`;
    } catch {
      usage.textContent = '';
    }
  }

  function parameters() {
    const p = {};
    const put = (name, input, parse) => {
      if (input.value.trim() !== '' && Number.isFinite(parse(input.value))) p[name] = parse(input.value);
    };
    put('temperature', temperature, Number);
    put('top_p', topP, Number);
    put('max_tokens', maxTokens, (v) => Number.parseInt(v, 10));
    return p;
  }

  function requestBody() {
    const chat = [];
    if (system.value.trim()) chat.push({ role: 'system', content: system.value });
    for (const m of messages) {
      if (m.role === 'user' || (m.content && !m.answer?.error)) chat.push({ role: m.role, content: m.content });
    }
    return { model: model.value, messages: chat, ...parameters() };
  }

  function addMessage(m) {
    messages.push(m);
    m.view = m.role === 'user' ? userView(m) : assistantView(m);
    transcript.append(m.view.el);
    scrollDown(true);
    updateButtons();
  }

  async function sendMessage() {
    const text = input.value.trim();
    if (!text || abort || sendButton.disabled) return;
    input.value = '';
    addMessage({ role: 'user', content: text });
    await answer();
  }

  async function regenerate() {
    if (abort) return;
    while (messages.length && messages[messages.length - 1].role === 'assistant') messages.pop().view.el.remove();
    if (messages.length) await answer();
  }

  async function answer() {
    const body = requestBody();
    const m = { role: 'assistant', content: '', model: body.model, answer: null };
    addMessage(m);
    abort = new AbortController();
    updateButtons();
    let pending = false;
    const final = await streamChat(body, {
      signal: abort.signal,
      onUpdate: (a) => {
        m.content = a.content;
        m.answer = a;
        if (pending) return;
        pending = true;
        requestAnimationFrame(() => {
          pending = false;
          m.view.render();
        });
      },
    });
    m.content = final.content;
    m.answer = final;
    abort = null;
    m.view.render();
    announce.textContent = final.error ? `The answer failed: ${final.error}` : final.stopped ? 'Answer stopped.' : 'Answer complete.';
    updateButtons();
    refreshUsage();
    // A stopped answer is recorded once the gateway has seen the client leave (within about
    // 100 ms): read the usage again after that, so its cost shows.
    if (final.stopped) setTimeout(refreshUsage, 500);
  }

  function clear() {
    abort?.abort();
    messages.length = 0;
    transcript.replaceChildren();
    updateButtons();
  }

  function conversation() {
    return { model: model.value, system: system.value, parameters: parameters(), messages };
  }

  function exportAs(kind) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    if (kind === 'json') download(`chat-${stamp}.json`, toJson(conversation()), 'application/json');
    else download(`chat-${stamp}.md`, toMarkdown(conversation()), 'text/markdown');
  }

  function scrollDown(force) {
    const near = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
    if (force || near) transcript.scrollTop = transcript.scrollHeight;
  }

  function assistantView(m) {
    const body = h('div', { class: 'markdown', testid: 'chat-answer' });
    const reasoning = h('details', { class: 'reasoning', hidden: true }, h('summary', {}, 'Reasoning'));
    const reasoningText = h('div', { class: 'plain' });
    reasoning.append(reasoningText);
    const error = h('p', { class: 'notice error', testid: 'chat-error', role: 'alert', hidden: true });
    const meta = h('p', { class: 'meta', testid: 'chat-meta' }, 'waiting for the first token…');
    const el = h(
      'article',
      { class: 'message assistant', testid: 'chat-message-assistant', 'aria-busy': 'true' },
      h('header', {}, m.model),
      reasoning,
      body,
      error,
      meta,
    );
    const render = () => {
      const a = m.answer;
      body.replaceChildren(renderMarkdown(m.content));
      if (!a) return;
      reasoning.hidden = !a.reasoning;
      reasoningText.textContent = a.reasoning;
      error.hidden = !a.error;
      error.textContent = a.error;
      const done = a.total !== null;
      el.setAttribute('aria-busy', String(!done));
      meta.textContent = done ? summary(a) : 'streaming…';
      scrollDown(false);
    };
    return { el, render };
  }

  return {
    el,
    show() {
      refreshModels();
      refreshUsage();
      timer = setInterval(refreshModels, MODELS_EVERY_MS);
      input.focus();
    },
    hide() {
      clearInterval(timer);
    },
    destroy() {
      clearInterval(timer);
      abort?.abort();
    },
  };
}

function userView(m) {
  const el = h(
    'article',
    { class: 'message user', testid: 'chat-message-user' },
    h('header', {}, 'You'),
    h('div', { class: 'plain' }, m.content),
  );
  return { el };
}
