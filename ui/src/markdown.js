// A model's answer as safe DOM: markdown (marked) -> sanitised (DOMPurify) -> code blocks
// highlighted (highlight.js, a dozen common languages).
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import cpp from 'highlight.js/lib/languages/cpp';
import go from 'highlight.js/lib/languages/go';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { Marked } from 'marked';

const LANGUAGES = { bash, cpp, go, javascript, json, plaintext, python, rust, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
hljs.configure({ ignoreUnescapedHTML: true });

// Raw HTML in an answer is shown as text, not parsed: a model quoting markup means the markup.
// (DOMPurify would strip what is dangerous, but parsing <img onerror=...> at all makes Chromium
// report a CSP violation.)
const escapes = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => escapes[c]);
const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({ renderer: { html: ({ text }) => escapeHtml(text) } });

// Links open in a new tab without handing it this page (window.opener) or the referrer.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
  FORBID_ATTR: ['style'], // the CSP would refuse them anyway
};

// Markdown text -> a DocumentFragment safe to insert.
export function renderMarkdown(text) {
  const fragment = DOMPurify.sanitize(marked.parse(text), PURIFY);
  // Images load only from data: URLs (the CSP's img-src): the others show as their alt text.
  for (const img of fragment.querySelectorAll('img')) {
    if (!/^data:image\//i.test(img.getAttribute('src') ?? '')) img.replaceWith(img.alt ?? '');
  }
  highlightCode(fragment);
  return fragment;
}

// Highlights the <pre><code> blocks under `root`: by their language-* class when it names a
// known language, else by detection among the known ones.
function highlightCode(root) {
  for (const code of root.querySelectorAll('pre > code')) {
    const lang = /\blanguage-([\w+#.-]+)/.exec(code.className)?.[1];
    if (lang && !hljs.getLanguage(lang)) code.classList.add('hljs');
    else hljs.highlightElement(code);
  }
}
