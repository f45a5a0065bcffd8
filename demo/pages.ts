/**
 * Demo Clinic's pages: plain HTML, everything escaped, no script (each step says what to do next).
 */

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export function page(title: string, body: string, refreshSeconds?: number): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  ${refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''}
  <title>${esc(title)} · Demo Clinic</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1d2733; }
    h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-top: 1px solid #d5dbe3; padding-top: 1rem; }
    .code { font-family: ui-monospace, monospace; font-size: 1.2rem; letter-spacing: .05em; background: #eef3f8; padding: .1rem .4rem; }
    .next { background: #fff7e0; border-left: 4px solid #e0a800; padding: .5rem .8rem; }
    .ok { background: #e8f6ec; border-left: 4px solid #2e8b57; padding: .5rem .8rem; }
    .error { background: #fdecec; border-left: 4px solid #c0392b; padding: .5rem .8rem; }
    button { font: inherit; padding: .4rem 1rem; cursor: pointer; }
    table { border-collapse: collapse; } td, th { padding: .2rem .8rem .2rem 0; text-align: left; }
    label { display: block; margin-top: .5rem; }
  </style>
</head>
<body>
<h1>Demo Clinic</h1>
<p>A third-party app that connects to carevault in each of the ways HealthVault offered. It runs in its own process, as any app would.</p>
${body}
</body>
</html>`;
}

export const form = (action: string, button: string, fields = '') =>
  `<form method="post" action="${esc(action)}">${fields}<p><button type="submit">${esc(button)}</button></p></form>`;
