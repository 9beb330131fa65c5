// Builds the review UI into ui/dist, which Tauri serves as the app's frontend
// (tauri.conf.json → build.frontendDist). Vitest shares this config.
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  plugins: [svelte()],
  // Relative asset URLs: the bundle is served from tauri://localhost and, for previews, from any
  // loopback static server.
  base: './',
  clearScreen: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  // Component tests mount Svelte in jsdom, so Svelte must resolve to its browser build.
  resolve: process.env.VITEST ? { conditions: ['browser'] } : {},
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
  },
});
