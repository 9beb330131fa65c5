//! Pointer capture that never throws: a drag keeps receiving moves outside its element where the
//! platform supports capture, and simply works within the element where it does not.

export function capturePointer(e: PointerEvent): void {
  const el = e.currentTarget;
  if (!(el instanceof Element) || typeof el.setPointerCapture !== 'function') return;
  try {
    el.setPointerCapture(e.pointerId);
  } catch {
    // The pointer is already gone (released between the event and this call): nothing to hold.
  }
}
