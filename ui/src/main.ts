//! Entry point: picks the backend (the Rust shell inside Tauri, the in-memory demo anywhere
//! else, e.g. a browser preview) and mounts the app.

import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { Session } from './stores/session.svelte';

async function main(target: HTMLElement): Promise<void> {
  if ('__TAURI_INTERNALS__' in window) {
    const { tauriBackend } = await import('./lib/backend-tauri');
    mount(App, { target, props: { backend: tauriBackend } });
    return;
  }
  const [{ MockBackend }, { applyPreviewParams }] = await Promise.all([import('./lib/backend-mock'), import('./preview')]);
  const backend = new MockBackend({ bridgeHtmlDrops: true });
  const session = new Session(backend);
  mount(App, { target, props: { backend, session } });
  // Let the app open its first clip, then apply any preview state from the URL.
  setTimeout(() => void applyPreviewParams(session, backend, window.location.search), 200);
}

const target = document.getElementById('app');
if (target) void main(target);
