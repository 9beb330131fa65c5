// Test environment: jsdom has no canvas; components must cope with a null 2D context, which is
// what the real app does when a canvas cannot be created. Silence jsdom's "not implemented".
import { vi } from 'vitest';

HTMLCanvasElement.prototype.getContext = vi.fn(() => null) as unknown as HTMLCanvasElement['getContext'];

// jsdom does no layout, so nothing ever resizes: an observer that never reports is faithful.
class NoLayoutResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}
globalThis.ResizeObserver ??= NoLayoutResizeObserver as unknown as typeof ResizeObserver;
