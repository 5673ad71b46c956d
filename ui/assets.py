"""Static CSS and the small client-side script (running clock, URL updates). No web fonts, no network."""

CSS = """
.cl-header { display:flex; gap:.6rem; align-items:baseline; flex-wrap:wrap; font-size:.95rem; }
.cl-header .cl-model { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.cl-header .cl-limits { opacity:.65; font-size:.85rem; }
.cl-header .cl-warn { color: var(--color-accent); }
.message:has(.cl-metrics), .message-wrap .message:has(.cl-metrics) {
  background: transparent !important; border: none !important; box-shadow: none !important;
  padding-top: 0 !important; padding-bottom: 0 !important; min-height: 0 !important;
}
.cl-metrics { font-size: .78rem; opacity: .7; font-variant-numeric: tabular-nums; }
.cl-metrics.cl-error { color: var(--error-text-color, #b91c1c); opacity: .95; }
#cl-status { min-height: 1.4rem; }
.cl-clock { font-size: .82rem; opacity: .8; font-variant-numeric: tabular-nums; }
.cl-clock .cl-dot { display:inline-block; width:.5rem; height:.5rem; border-radius:50%; margin-right:.4rem;
  background: var(--color-accent); animation: cl-pulse 1s ease-in-out infinite; }
.cl-clock[data-phase="waiting"] .cl-dot { background: #d97706; }
@keyframes cl-pulse { 50% { opacity: .3; } }
#cl-actions { align-items: center; }
#cl-context { flex-grow: 4; }
.cl-context { font-size: .78rem; opacity: .75; font-variant-numeric: tabular-nums; display:flex; gap:.5rem;
  align-items:center; justify-content:flex-end; }
.cl-ctx-bar { display:inline-block; width:5rem; height:.4rem; border-radius:.2rem; overflow:hidden;
  background: var(--border-color-primary, #ddd); }
.cl-ctx-bar > span { display:block; height:100%; background: var(--color-accent); }
.cl-ctx-high .cl-ctx-bar > span { background: #d97706; }
"""

HEAD = """
<style>
  /* Phones: room for the conversation sidebar's toggle beside the header. In HEAD because Gradio keeps only a
     scoped copy of @media rules given through launch(css=...). */
  @media (max-width: 640px) { #cl-header { padding-left: 2.2rem; } }
</style>
<script>
(() => {
  // The running clock: each .cl-clock carries the server's elapsed seconds when it was drawn; count on from there.
  const tick = () => {
    for (const el of document.querySelectorAll('.cl-clock')) {
      if (!el.dataset.t0) el.dataset.t0 = String(performance.now() - 1000 * parseFloat(el.dataset.elapsed || '0'));
      const t = el.querySelector('.cl-t');
      if (t) t.textContent = ((performance.now() - parseFloat(el.dataset.t0)) / 1000).toFixed(1) + ' s';
    }
  };
  setInterval(tick, 100);
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
(cid) => {
  const url = new URL(window.location.href);
  if (cid) { url.searchParams.set('c', cid); } else { url.searchParams.delete('c'); }
  window.history.replaceState(null, '', url);
}
"""
