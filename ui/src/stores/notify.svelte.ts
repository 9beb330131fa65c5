//! Calm, dismissible messages for the reviewer: backend errors in their own words, and short
//! confirmations (snapshot saved). Errors stay until dismissed; information fades by itself.

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

export class Notifier {
  toasts = $state<Toast[]>([]);
  private seq = 0;

  private push(kind: Toast['kind'], message: string, ttlMs: number | null): void {
    // The same message twice in a row is one message, not a stack of them.
    if (this.toasts.some((t) => t.message === message)) return;
    this.seq += 1;
    const id = this.seq;
    this.toasts.push({ id, kind, message });
    if (this.toasts.length > 4) this.toasts.shift();
    if (ttlMs !== null) setTimeout(() => this.dismiss(id), ttlMs);
  }

  error(message: string): void {
    this.push('error', message, 12000);
  }

  info(message: string): void {
    this.push('info', message, 4000);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }
}
