"""Static CSS and the small client-side script (layout, clock, swipes, URL updates). No web fonts, no network."""

# The chat tab is one screen high: the header line, the conversation (which scrolls, and takes what is left), the
# actions, then the composer docked at the bottom (CSS ``order``: the composer's Python layout stays as it is).
# The layout keys on elem_ids (#cl-input, #cl-send, #cl-stop) and ``:has()``, not on Gradio's generated classes.
CSS = """
/* Readable text, WCAG AA (4.5:1, checked by axe-core in tests/test_accessibility.py): the Soft theme draws labels,
   selected tabs and hints in its accent's 500 shade or neutral-400, under 4.5:1 on its light backgrounds. html:root
   outranks the theme's own :root (which loads after this); dark mode keeps the theme's (white labels). Dimmed text
   is a subdued colour, never an opacity, so the contrast is what is declared. */
html:root { --block-title-text-color: var(--primary-700); --block-label-text-color: var(--primary-700);
  --body-text-color-subdued: var(--neutral-500); --cl-accent-text: var(--primary-700); }
html:root body.dark { --cl-accent-text: var(--primary-300); }
.tab-container > button[role="tab"].selected { color: var(--cl-accent-text); }
.gradio-container:has(#cl-tab-chat:not([style*="none"])) { height: 100vh; height: 100dvh; min-height: 0 !important; }
.gradio-container:has(#cl-tab-chat:not([style*="none"])) > .main.app {
  padding-top: .5rem; padding-bottom: max(.5rem, env(safe-area-inset-bottom)); min-height: 0;
}
.gradio-container:has(#cl-tab-chat:not([style*="none"])) .contain,
.gradio-container:has(#cl-tab-chat:not([style*="none"])) .contain > .column { min-height: 0; }
#cl-tabs:has(> #cl-tab-chat:not([style*="none"])) { flex: 1 1 0; min-height: 0; display: flex; flex-direction: column; }
#cl-tab-chat { flex: 1 1 0; min-height: 0; padding: 0; }
#cl-tab-chat > .column { flex: 1 1 0; min-height: 0; flex-wrap: nowrap; gap: .5rem; }
#cl-tab-chat > .column > * { order: 1; }
#cl-tab-chat > .column > .row:has(#cl-input) { order: 3; }
#cl-chat { flex: 1 1 0 !important; min-height: 8rem; height: auto !important; max-height: none !important;
  border-width: 0 !important; box-shadow: none; background: transparent; }
#cl-chat > .wrapper { height: 100%; }

/* The header: one line, cut with an ellipsis; its padding keeps it clear of the tabs and the panel toggles
   (set by the page script from where they are). Without the Analytics tab there is no tab bar to show. */
#cl-header { padding: 0 var(--cl-clear-right, 0) 0 var(--cl-clear-left, 0); min-height: 2.25rem; display: flex;
  align-items: center; flex: 0 0 auto; }
#cl-header .html-container, #cl-header .prose { padding: 0 !important; min-width: 0; width: 100%; }
.cl-header { display: flex; gap: .6rem; align-items: baseline; flex-wrap: nowrap; white-space: nowrap;
  overflow: hidden; font-size: .95rem; min-width: 0; line-height: 2.25rem; }
.cl-header > * { flex: 0 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; }
.cl-header .cl-brand { flex: 0 0 auto; }
.cl-header .cl-model { font-weight: 500; }
.cl-header .cl-limits { color: var(--body-text-color-subdued); font-size: .82rem; flex-shrink: 3; }
.cl-badge { display: inline-block; font-size: .75rem; line-height: 1.4; padding: .05rem .55rem; border-radius: 999px;
  font-weight: 500; align-self: center; border: 1px solid transparent; }
.cl-badge-down { color: #b91c1c; background: #fef2f2; border-color: #fecaca; }
.cl-badge-wait { color: #92400e; background: #fffbeb; border-color: #fde68a; }
.dark .cl-badge-down { color: #fecaca; background: #450a0a; border-color: #7f1d1d; }
.dark .cl-badge-wait { color: #fde68a; background: #451a03; border-color: #78350f; }
#cl-tabs > .tab-wrapper { right: var(--cl-tabs-right, 0); z-index: 5; }
/* Gradio measures the bar to fit its tabs: hidden, never display: none. */
#cl-tabs > .tab-wrapper:not(:has(#cl-tab-analytics-button, .overflow-menu:not(.hide))) { visibility: hidden; }
#cl-tabs > .tab-wrapper button { white-space: nowrap; }

/* A reply reads the same while it streams and once it is done: plain text on the page, no bubble (the user's own
   messages keep theirs). */
#cl-chat .message-row.bot-row { max-width: 100%; }
#cl-chat .message-row .message.bot, #cl-chat .message-row .bot {
  background: transparent !important; border: none !important; box-shadow: none !important;
}
#cl-chat .message-row .message.bot:has(.cl-metrics) { padding-top: 0 !important; padding-bottom: 0 !important;
  min-height: 0 !important; }
#cl-chat .message-content[dir="auto"] { text-align: start; }  /* right for right-to-left text (page script) */
/* Gradio draws every message at opacity .8: the metrics line would drop under 4.5:1 in its subdued colour. */
#cl-chat .message-wrap .prose.chatbot.md:has(.cl-metrics) { opacity: 1; }
.cl-metrics { font-size: .78rem; color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
.cl-metrics.cl-error { color: var(--error-text-color, #b91c1c); }

/* The composer: one rounded box, docked at the bottom; the buttons in it keep their size. */
#cl-tab-chat .row:has(#cl-input) { flex: 0 0 auto; flex-wrap: nowrap; align-items: flex-end; gap: .5rem;
  border: 1px solid var(--border-color-primary) !important; border-radius: 1.4rem; padding: .35rem .4rem .35rem .6rem;
  background: var(--background-fill-primary); box-shadow: 0 1px 6px rgb(0 0 0 / .06); }
#cl-tab-chat .row:has(#cl-input) > .form, #cl-tab-chat .row:has(#cl-input) .block {
  border-width: 0 !important; box-shadow: none !important; background: transparent !important;
  min-width: 0 !important; }
#cl-input, #cl-input label, #cl-input .full-container { padding: 0 !important; }
#cl-input textarea { border: none !important; box-shadow: none !important; background: transparent !important;
  padding: .55rem .3rem !important; }
#cl-send, #cl-stop { flex: 0 0 auto !important; min-width: 4.5rem !important; width: auto !important;
  min-height: 2.5rem; height: 2.5rem; border-radius: 1.25rem !important; align-self: flex-end; }

#cl-status { min-height: 0; flex: 0 0 auto; }
#cl-status .html-container, #cl-status .prose { padding: 0 .25rem !important; }
.cl-clock { font-size: .82rem; color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
.cl-clock .cl-dot { display:inline-block; width:.5rem; height:.5rem; border-radius:50%; margin-right:.4rem;
  background: var(--color-accent); animation: cl-pulse 1s ease-in-out infinite; }
.cl-clock[data-phase="waiting"] .cl-dot { background: #d97706; }
@keyframes cl-pulse { 50% { opacity: .3; } }
#cl-actions { align-items: center; flex: 0 0 auto; flex-wrap: nowrap; gap: .4rem; }
#cl-actions > button { flex: 0 0 auto !important; min-width: 0 !important; width: auto !important;
  white-space: nowrap; padding-left: .8rem; padding-right: .8rem; }
#cl-context { flex: 1 1 0; min-width: 0; }
/* The temporary-chat switch sits in the actions row as one line: no block frame, no padding. */
#cl-temporary { flex: 0 0 auto !important; min-width: 0 !important; width: auto !important; padding: 0 .2rem !important;
  border: none !important; background: none !important; box-shadow: none !important; overflow: visible !important; }
#cl-temporary label, #cl-temporary label span { white-space: nowrap; margin: 0 !important; font-size: .85rem;
  overflow: visible !important; max-width: none !important; }
#cl-context .html-container, #cl-context .prose { padding: 0 !important; }
.cl-context { font-size: .78rem; color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums;
  display:flex; gap:.5rem; align-items:center; justify-content:flex-end; white-space: nowrap; overflow: hidden; }
.cl-context .cl-ctx-text { overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.cl-ctx-bar { display:inline-block; flex: 0 0 auto; width:5rem; height:.4rem; border-radius:.2rem; overflow:hidden;
  background: var(--border-color-primary, #ddd); }
.cl-ctx-bar > span { display:block; height:100%; background: var(--color-accent); }
.cl-ctx-high .cl-ctx-bar > span { background: #d97706; }

/* The panels' toggles say what they open: "Chats" on the left, "Settings" on the right (a chevron once open). */
#cl-history > .toggle-button, #cl-panels > .toggle-button {
  transform: none !important; width: auto; min-width: 2.25rem; height: 2.25rem; top: .5rem; gap: .35rem;
  padding: 0 .6rem; border-radius: 999px !important; border: 1px solid var(--border-color-primary) !important;
  font-size: .85rem; font-weight: 500; color: var(--body-text-color); white-space: nowrap; }
#cl-history:not(.open) > .toggle-button { left: calc(100% + .5rem); }
#cl-panels:not(.open) > .toggle-button { right: calc(100% + .5rem); }
#cl-history.open > .toggle-button { right: .5rem; left: auto; }
#cl-panels.open > .toggle-button { left: .5rem; right: auto; }
/* Gradio turns the whole button to point its chevron; here only the chevron turns, so the label reads upright. */
#cl-history:not(.open) > .toggle-button .chevron, #cl-panels.open > .toggle-button .chevron { transform: none; }
#cl-history.open > .toggle-button .chevron, #cl-panels:not(.open) > .toggle-button .chevron {
  transform: rotate(180deg); }
#cl-history:not(.open) > .toggle-button::after, #cl-panels:not(.open) > .toggle-button::before {
  content: attr(aria-label); }  /* the name the page script gives each toggle */
#cl-panels.open > .sidebar-content { padding-top: 3rem; }
#cl-history.open > .sidebar-content { padding-top: 3rem; }
"""

HEAD = """
<style>
  /* Less motion when the system asks for it: the streaming dot stops pulsing, and Gradio's own animations and
     transitions (spinners, tab underlines, panels sliding) end at once. */
  @media (prefers-reduced-motion: reduce) {
    *, *::before, *::after { animation-duration: .01ms !important; animation-iteration-count: 1 !important;
      transition-duration: .01ms !important; scroll-behavior: auto !important; }
    .cl-clock .cl-dot { animation: none !important; }
  }
  /* Phones and touch screens. In HEAD because Gradio keeps only a scoped copy (inside .contain) of @media rules given
     through launch(css=...), and the page padding lives outside it; !important because the launch css (and its
     scoped copy, more specific) loads after this. */
  @media (max-width: 640px) {
    .gradio-container .main.app { padding-left: .5rem !important; padding-right: .5rem !important; }
    .cl-header { font-size: .9rem !important; gap: .4rem !important; }
    .cl-header .cl-limits, .cl-header .cl-brand { display: none !important; }
    #cl-history:not(.open) > .toggle-button::after, #cl-panels:not(.open) > .toggle-button::before {
      content: none !important; }
    #cl-history > .toggle-button, #cl-panels > .toggle-button {
      padding: 0 !important; justify-content: center !important; }
    /* No room for the tab bar beside the header on a phone: it takes its own row above it, between the toggles. */
    #cl-tabs > .tab-wrapper { left: 48px !important; right: 48px !important; top: 6px !important;
      justify-content: center !important; }
    #cl-tabs:has(> .tab-wrapper #cl-tab-analytics-button),
    #cl-tabs:has(> .tab-wrapper > .overflow-menu:not(.hide)) {
      padding-top: 46px !important; }
    #cl-actions .cl-context .cl-ctx-bar { width: 2.5rem !important; }
    /* No room for the word: the switch shows a mask (its accessible name is still the label's text). */
    #cl-temporary label span { font-size: 0 !important; }
    #cl-temporary label span::after { content: "🕶"; font-size: 1.1rem; }
  }
  @media (max-width: 640px), (pointer: coarse) {
    #cl-history > .toggle-button, #cl-panels > .toggle-button {
      min-width: 44px !important; min-height: 44px !important; height: 44px !important; }
    #cl-tabs > .tab-wrapper button { min-height: 44px !important; }
    #cl-actions > button, #cl-send, #cl-stop { min-height: 44px !important; }
    #cl-chat .message-buttons button, #cl-chat .icon-button-wrapper button {
      min-width: 44px !important; min-height: 44px !important; }
    /* The chat's own clear button (the same as + New chat) would sit over the text at that size. */
    #cl-chat .top-panel { display: none !important; }
    #cl-conversations label { min-height: 44px !important; }
    #cl-panels .tab-container button, #cl-history button { min-height: 44px !important; }
  }
</style>
<script>
(() => {
  // Phones' notches and home bars: let the page reach the screen's edges; the CSS keeps clear of them
  // (env(safe-area-inset-*)).
  const viewport = document.querySelector('meta[name=viewport]');
  if (viewport && !viewport.content.includes('viewport-fit')) viewport.content += ', viewport-fit=cover';
  // The header line keeps clear of what floats over it: the panels' toggles (fixed) and the tab bar (absolute).
  // Their boxes do not depend on the header's padding, so measuring them cannot feed back.
  const clear = () => {
    const header = document.querySelector('#cl-header'), tabs = document.querySelector('#cl-tabs');
    if (!header || !tabs || !header.offsetParent) return;
    const h = header.getBoundingClientRect(), gap = 8;
    const overlaps = (r) => r.width > 0 && r.bottom > h.top && r.top < h.bottom;
    let left = 0, right = 0, tabsRight = 0;
    const toggles = [...document.querySelectorAll('#cl-history > .toggle-button, #cl-panels > .toggle-button')];
    for (const t of toggles) {
      const r = t.getBoundingClientRect();
      if (!overlaps(r) || r.right <= h.left || r.left >= h.right) continue;
      if (r.left + r.width / 2 < h.left + h.width / 2) left = Math.max(left, r.right - h.left + gap);
      else { right = Math.max(right, h.right - r.left + gap); tabsRight = Math.max(tabsRight, h.right - r.left + gap); }
    }
    const bar = tabs.querySelector(':scope > .tab-wrapper');
    const strip = bar && bar.querySelector('.tab-container:not(.visually-hidden)');
    const beside = strip && getComputedStyle(bar).visibility !== 'hidden' && overlaps(strip.getBoundingClientRect());
    if (beside) right = tabsRight + strip.getBoundingClientRect().width + gap;
    const set = (el, name, px) => {
      const v = Math.ceil(px) + 'px';
      if (el.style.getPropertyValue(name) !== v) el.style.setProperty(name, v);
    };
    set(header, '--cl-clear-left', left);
    set(header, '--cl-clear-right', right);
    set(tabs, '--cl-tabs-right', tabsRight);
  };
  // What Gradio's markup has no parameter for: the streaming status and the metrics lines are polite live regions
  // (the phase is read out when it changes, a reply's numbers once it is done), and the panels' toggles, both
  // "Toggle Sidebar" in Gradio, say which panel they open (the CSS shows that name beside the chevron).
  // The script's own strings, in the browser's language (window.chatlensText: ui/i18n.py).
  const say = (key, english) => (window.chatlensText && window.chatlensText[key]) || english;
  const accessible = () => {
    const names = [['#cl-history > .toggle-button', say('page_chats', 'Chats')],
      ['#cl-panels > .toggle-button', say('page_settings', 'Settings')]];
    // Gradio's sanitizer drops aria-* from messages: each reply's metrics line becomes a live region here.
    for (const line of document.querySelectorAll('#cl-chat .cl-metrics:not([aria-live])')) {
      line.setAttribute('aria-live', 'polite');
    }
    const status = document.querySelector('#cl-status');
    if (status && status.getAttribute('aria-live') !== 'polite') {
      status.setAttribute('role', 'status');
      status.setAttribute('aria-live', 'polite');
    }
    for (const [selector, name] of names) {
      const toggle = document.querySelector(selector);
      if (toggle && toggle.getAttribute('aria-label') !== name) toggle.setAttribute('aria-label', name);
    }
  };
  // Right-to-left text: Gradio writes dir="ltr" (and text-align: left) on every message and on the message box;
  // each message's body and the box take their direction from their own text instead (dir="auto"), so Arabic or
  // Hebrew reads right to left beside English.
  const directions = () => {
    for (const body of document.querySelectorAll('#cl-chat .message-content:not([dir])')) {
      body.setAttribute('dir', 'auto');
    }
    const box = document.querySelector('#cl-input textarea');
    if (box && box.getAttribute('dir') !== 'auto') box.setAttribute('dir', 'auto');
  };
  // Narrow screens: the keyboard hints do not fit in the box, its name does.
  const placeholder = () => {
    const box = document.querySelector('#cl-input textarea');
    if (!box) return;
    if (!box.dataset.full) box.dataset.full = box.placeholder;
    const wanted = window.innerWidth <= 640 ? say('page_composer_short', 'Message ChatLens') : box.dataset.full;
    if (box.placeholder !== wanted) box.placeholder = wanted;
  };
  // The running clock: each .cl-clock carries the server's elapsed seconds when it was drawn; count on from there.
  const tick = () => {
    for (const el of document.querySelectorAll('.cl-clock')) {
      if (!el.dataset.t0) el.dataset.t0 = String(performance.now() - 1000 * parseFloat(el.dataset.elapsed || '0'));
      const t = el.querySelector('.cl-t');
      if (t) t.textContent = ((performance.now() - parseFloat(el.dataset.t0)) / 1000).toFixed(1) + ' s';
    }
    clear();
    placeholder();
    accessible();
    directions();
  };
  setInterval(tick, 100);
  window.addEventListener('resize', tick);
  // Touch: swipe right from the left edge opens the conversations, from the right edge the settings; a swipe the
  // other way closes the open panel.
  let touch = null;
  document.addEventListener('touchstart', (e) => {
    const t = e.touches[0];
    touch = e.touches.length === 1 ? { x: t.clientX, y: t.clientY, at: performance.now() } : null;
  }, { passive: true });
  document.addEventListener('touchend', (e) => {
    if (!touch) return;
    const t = e.changedTouches[0], dx = t.clientX - touch.x, dy = t.clientY - touch.y, start = touch;
    touch = null;
    if (Math.abs(dx) < 60 || Math.abs(dx) < 2 * Math.abs(dy) || performance.now() - start.at > 800) return;
    const left = document.querySelector('#cl-history'), right = document.querySelector('#cl-panels');
    const toggle = (side) => side && side.querySelector(':scope > .toggle-button')?.click();
    const edge = 32;
    if (dx > 0) {
      if (right && right.classList.contains('open')) toggle(right);
      else if (left && !left.classList.contains('open') && start.x <= edge) toggle(left);
    } else {
      if (left && left.classList.contains('open')) toggle(left);
      else if (right && !right.classList.contains('open') && start.x >= window.innerWidth - edge) toggle(right);
    }
  }, { passive: true });
  // Copy on a reply copies its answer only. Gradio copies a bubble's messages joined: the thought (its title, then
  // its text, which ends with U+2063), the answer, then the metrics line. Other copies pass unchanged.
  const clipboard = navigator.clipboard;
  if (clipboard && clipboard.writeText) {
    const write = clipboard.writeText.bind(clipboard);
    clipboard.writeText = (text) => {
      if (typeof text === 'string' && text.includes('<span class="cl-metrics')) {
        text = text.slice(text.lastIndexOf('\\u2063') + 1).replace(/\\n?<span class="cl-metrics[\\s\\S]*$/, '').trim();
      }
      return write(text);
    };
  }
  // Esc stops a streaming reply.
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { const b = document.querySelector('#cl-stop'); if (b && b.offsetParent) b.click(); }
  });
})();
</script>
"""

SET_URL_JS = """
(cid, temporary) => {
  const url = new URL(window.location.href);
  if (cid && !temporary) { url.searchParams.set('c', cid); } else { url.searchParams.delete('c'); }
  window.history.replaceState(null, '', url);
}
"""
