//! Keeping keyboard focus inside a modal dialog: Tab and Shift+Tab cycle through its own controls,
//! so a keyboard user can never land on the window behind it.

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), a[href], [tabindex]:not([tabindex="-1"])';

/** The dialog's controls a Tab can reach, in document order (hidden ones left out where layout says so). */
export function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => !el.hidden && el.getAttribute('aria-hidden') !== 'true');
}

/** Handles Tab inside `root`: wraps from the last control to the first and back. True when handled. */
export function trapTab(e: KeyboardEvent, root: HTMLElement): boolean {
  if (e.key !== 'Tab') return false;
  const list = focusables(root);
  if (list.length === 0) {
    e.preventDefault();
    root.focus();
    return true;
  }
  const first = list[0];
  const last = list[list.length - 1];
  const active = document.activeElement;
  const inside = active instanceof HTMLElement && root.contains(active);
  if (e.shiftKey && (active === first || !inside || active === root)) {
    e.preventDefault();
    last?.focus();
    return true;
  }
  if (!e.shiftKey && (active === last || !inside)) {
    e.preventDefault();
    first?.focus();
    return true;
  }
  return false;
}
