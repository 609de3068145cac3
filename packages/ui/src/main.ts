import { mount } from 'svelte';
import App from './App.svelte';
import { loadLocale } from './lib/i18n.svelte.ts';

// The chosen language's messages first (简体中文 comes as its own file), then the console.
loadLocale().finally(() => mount(App, { target: document.getElementById('app') as HTMLElement }));
