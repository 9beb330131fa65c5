//! Entry point: picks the backend (the Rust shell inside Tauri, the in-memory demo anywhere
//! else, e.g. a browser preview) and mounts the app.

import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import type { Backend } from './lib/backend';

async function pickBackend(): Promise<Backend> {
  if (typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window) {
    const { tauriBackend } = await import('./lib/backend-tauri');
    return tauriBackend;
  }
  const { MockBackend } = await import('./lib/backend-mock');
  return new MockBackend();
}

const target = document.getElementById('app');
if (target) {
  void pickBackend().then((backend) => mount(App, { target, props: { backend } }));
}
