import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const artifactsDir = fileURLToPath(new URL('../artifacts', import.meta.url));

/** Debian's Chromium, headless, with the flags this closed network needs (no background connections). */
export async function launchBrowser(): Promise<Browser> {
  await mkdir(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  /** Errors the page printed or threw: a test fails when there are any. */
  errors: string[];
}

/** A browser context of its own (its own cookies) signed in as `login`. */
export async function signedIn(
  browser: Browser,
  baseUrl: string,
  login: string,
  password: string,
  options: { locale?: 'en' | 'zh-CN'; width?: number; height?: number } = {},
): Promise<ConsolePage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
  });
  await context.addInitScript((locale) => localStorage.setItem('slipway.locale', locale), options.locale ?? 'en');
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on(
    'dialog',
    (dialog) => void dialog.accept(dialog.type() === 'prompt' ? 'rolling back from the browser' : undefined),
  );
  await page.goto(`${baseUrl}/`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', password);
  await page.press('input[name=password]', 'Enter');
  await page.waitForSelector('[data-testid=current-user]');
  return { context, page, errors };
}
