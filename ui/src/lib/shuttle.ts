//! J/K/L shuttle as a pure state machine: key events in, the new state and player commands out.
//!
//! L plays forwards, each further L doubles the speed up to ×8; J does the same backwards (and
//! an L while going backwards turns round at ×1). K pauses; while K is held, J and L step one
//! frame. Being pure makes it testable without a player and keeps the player the only truth
//! about what is playing: `syncFromPlayer` folds the player's own state events back in.

import type { PlayerCommand } from './backend';

export const SHUTTLE_SPEEDS = [1, 2, 4, 8] as const;
export const MAX_SHUTTLE = 8;

export interface ShuttleState {
  playing: boolean;
  /** Signed speed: negative plays backwards. Never 0. */
  rate: number;
  /** K is held down (K+J / K+L step). */
  kHeld: boolean;
}

export type ShuttleInput =
  | { type: 'j' }
  | { type: 'k' }
  | { type: 'kUp' }
  | { type: 'l' }
  /** Space: toggle, playing forwards at `speed` (the chosen playback speed). */
  | { type: 'toggle'; speed: number };

export interface ShuttleResult {
  state: ShuttleState;
  commands: PlayerCommand[];
}

export const INITIAL_SHUTTLE: ShuttleState = { playing: false, rate: 1, kHeld: false };

function start(state: ShuttleState, rate: number): ShuttleResult {
  const commands: PlayerCommand[] = [];
  if (rate !== state.rate) commands.push({ type: 'setRate', rate });
  if (!state.playing) commands.push({ type: 'play' });
  return { state: { ...state, playing: true, rate }, commands };
}

function accelerate(state: ShuttleState, direction: 1 | -1): ShuttleResult {
  if (state.kHeld) {
    return { state, commands: [{ type: 'step', delta: direction }] };
  }
  const sameWay = state.playing && Math.sign(state.rate) === direction;
  // Speeds from the speed menu (×0.5, ×1.5…) snap back onto the shuttle ladder when J/L is used.
  const current = Math.abs(state.rate);
  const next = sameWay ? Math.min(MAX_SHUTTLE, current >= 1 ? nextShuttle(current) : 1) : 1;
  return start(state, next * direction);
}

function nextShuttle(speed: number): number {
  for (const s of SHUTTLE_SPEEDS) if (s > speed) return s;
  return MAX_SHUTTLE;
}

export function shuttle(state: ShuttleState, input: ShuttleInput): ShuttleResult {
  switch (input.type) {
    case 'l':
      return accelerate(state, 1);
    case 'j':
      return accelerate(state, -1);
    case 'k':
      return {
        state: { ...state, playing: false, kHeld: true },
        commands: state.playing ? [{ type: 'pause' }] : [],
      };
    case 'kUp':
      return { state: { ...state, kHeld: false }, commands: [] };
    case 'toggle':
      if (state.playing) return { state: { ...state, playing: false }, commands: [{ type: 'pause' }] };
      return start(state, input.speed > 0 ? input.speed : 1);
  }
}

/** Folds the player's own report back in (it may have stopped at the end, or been changed). */
export function syncFromPlayer(state: ShuttleState, playing: boolean, rate: number): ShuttleState {
  return { ...state, playing, rate: rate === 0 ? state.rate : rate };
}
