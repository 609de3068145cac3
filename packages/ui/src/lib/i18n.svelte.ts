import { en } from './locales/en.ts';

export type Locale = 'en' | 'zh-CN';
export type MessageKey = keyof typeof en;

/** English is in the bundle (and the fallback); 简体中文 is fetched when chosen, so each reader loads one language. */
const dictionaries: Partial<Record<Locale, Record<MessageKey, string>>> = { en };
const stored = localStorage.getItem('slipway.locale');

export const i18n = $state<{ locale: Locale }>({
  locale: stored === 'zh-CN' || stored === 'en' ? stored : navigator.language.startsWith('zh') ? 'zh-CN' : 'en',
});

async function dictionary(locale: Locale): Promise<void> {
  if (!dictionaries[locale] && locale === 'zh-CN') dictionaries[locale] = (await import('./locales/zh.ts')).zh;
}

/** Loads the chosen language's messages; the console mounts once they are there. */
export function loadLocale(): Promise<void> {
  return dictionary(i18n.locale);
}

export async function setLocale(locale: Locale): Promise<void> {
  await dictionary(locale);
  i18n.locale = locale;
  localStorage.setItem('slipway.locale', locale);
  document.documentElement.lang = locale;
}

/** The message for `key` in the chosen language, with {name} placeholders filled in. */
export function t(key: MessageKey | `${string}.${string}`, values: Record<string, string | number> = {}): string {
  const text = dictionaries[i18n.locale]?.[key as MessageKey] ?? en[key as MessageKey] ?? key;
  return text.replace(/\{(\w+)\}/g, (_m, name) => String(values[name] ?? `{${name}}`));
}

/** A date and time in the user's locale. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  return new Intl.DateTimeFormat(i18n.locale, { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(iso));
}

/** An executor's event (or failure) in the console's words: its key's sentence with the values filled in (a time as a date). */
export function eventText(message: { key: string; params: { name: string; value: string }[] }): string {
  const values = Object.fromEntries(
    message.params.map((p) => [p.name, p.name === 'at' && p.value ? formatDate(p.value) : p.value]),
  );
  return t(`eventMessage.${message.key}`, values);
}

export function formatBytes(bytes: number): string {
  return new Intl.NumberFormat(i18n.locale, {
    style: 'unit',
    unit: bytes >= 1e6 ? 'megabyte' : 'kilobyte',
    maximumFractionDigits: 1,
  }).format(bytes >= 1e6 ? bytes / 1e6 : bytes / 1e3);
}

export function formatNumber(value: number): string {
  return new Intl.NumberFormat(i18n.locale).format(value);
}
