/**
 * axe-core in Chromium for page tests: the serious and critical violations of a page (WCAG 2.1 A/AA
 * and axe's best practices), checked at 1280 px and again at 390 px (where horizontal scrolling is
 * a problem too), and what the keyboard's focus is on.
 */
import fs from 'node:fs';
import type { Page } from 'playwright-core';

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) does not apply.
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
    .then((result) => result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => violation.id + ' (' + violation.impact + '): ' + violation.help + ' — ' + violation.nodes.slice(0, 3)
        .map((node) => node.target.join(' ') + ' ' + (node.failureSummary || '').replace(/\\s+/g, ' ')).join(' | ')))`);
}

/** The page's problems at 1280 px (axe) and at 390 px (axe's contrast and target size, and horizontal scrolling), as "label: problem". */
export async function pageProblems(page: Page, label: string): Promise<string[]> {
  await page.waitForLoadState('load');
  const problems: string[] = [];
  await page.setViewportSize({ width: 1280, height: 800 });
  for (const violation of await axeViolations(page)) problems.push(`${label}: ${violation}`);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
  if (overflow > 0) problems.push(`${label}: ${overflow} px of horizontal scrolling at 390 px wide`);
  for (const violation of await axeViolations(page)) if (/color-contrast|target-size/.test(violation)) problems.push(`${label} at 390 px: ${violation}`);
  await page.setViewportSize({ width: 1280, height: 800 });
  return problems;
}

/** What has the keyboard focus, as "kind name" (the tag or input type, then its label or text, without a "required" or "optional" mark). */
export async function focused(page: Page): Promise<string> {
  return (await page.evaluate(`(() => {
    const element = document.activeElement;
    if (!element || element === document.body) return '';
    const kind = element.tagName === 'INPUT' ? element.type : element.tagName === 'A' ? 'link' : element.tagName.toLowerCase();
    const label = element.labels && element.labels[0] ? element.labels[0].textContent : element.textContent;
    return kind + ' ' + (label || '').replace(/\\s+/g, ' ').replace(/ (required|optional)$/i, '').trim();
  })()`)) as string;
}

/** Presses Tab until `name` has the focus (at most `presses` times); whether it got there. */
export async function tabTo(page: Page, name: string, presses = 40): Promise<boolean> {
  for (let press = 0; press < presses; press += 1) {
    if ((await focused(page)) === name) return true;
    await page.keyboard.press('Tab');
  }
  return (await focused(page)) === name;
}
