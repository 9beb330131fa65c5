import { describe, expect, it } from 'vitest';
import { INITIAL_SHUTTLE, shuttle, syncFromPlayer, type ShuttleInput, type ShuttleState } from '../src/lib/shuttle';
import type { PlayerCommand } from '../src/lib/backend';

function run(inputs: ShuttleInput[], from: ShuttleState = INITIAL_SHUTTLE): { state: ShuttleState; commands: PlayerCommand[][] } {
  let state = from;
  const commands: PlayerCommand[][] = [];
  for (const i of inputs) {
    const r = shuttle(state, i);
    state = r.state;
    commands.push(r.commands);
  }
  return { state, commands };
}

describe('J/K/L shuttle', () => {
  it('L plays forwards and each further L doubles up to ×8', () => {
    const r = run([{ type: 'l' }, { type: 'l' }, { type: 'l' }, { type: 'l' }, { type: 'l' }]);
    expect(r.commands).toEqual([
      [{ type: 'play' }],
      [{ type: 'setRate', rate: 2 }],
      [{ type: 'setRate', rate: 4 }],
      [{ type: 'setRate', rate: 8 }],
      [],
    ]);
    expect(r.state).toMatchObject({ playing: true, rate: 8 });
  });

  it('J plays backwards and accelerates; L while reversing turns round at ×1', () => {
    const r = run([{ type: 'j' }, { type: 'j' }, { type: 'l' }]);
    expect(r.commands).toEqual([
      [{ type: 'setRate', rate: -1 }, { type: 'play' }],
      [{ type: 'setRate', rate: -2 }],
      [{ type: 'setRate', rate: 1 }],
    ]);
    expect(r.state.rate).toBe(1);
  });

  it('K pauses, and K held with J or L steps one frame', () => {
    const r = run([{ type: 'l' }, { type: 'l' }, { type: 'k' }, { type: 'l' }, { type: 'l' }, { type: 'j' }, { type: 'kUp' }, { type: 'l' }]);
    expect(r.commands[2]).toEqual([{ type: 'pause' }]);
    expect(r.commands[3]).toEqual([{ type: 'step', delta: 1 }]);
    expect(r.commands[4]).toEqual([{ type: 'step', delta: 1 }]);
    expect(r.commands[5]).toEqual([{ type: 'step', delta: -1 }]);
    expect(r.commands[6]).toEqual([]);
    // After K is released, L starts again at ×1, not at the old ×2.
    expect(r.commands[7]).toEqual([{ type: 'setRate', rate: 1 }, { type: 'play' }]);
  });

  it('K when already paused sends nothing', () => {
    expect(shuttle(INITIAL_SHUTTLE, { type: 'k' }).commands).toEqual([]);
  });

  it('Space toggles at the chosen speed', () => {
    const r = run([{ type: 'toggle', speed: 0.5 }, { type: 'toggle', speed: 0.5 }]);
    expect(r.commands).toEqual([[{ type: 'setRate', rate: 0.5 }, { type: 'play' }], [{ type: 'pause' }]]);
  });

  it('a menu speed snaps onto the shuttle ladder', () => {
    const r = run([{ type: 'l' }], { playing: true, rate: 1.5, kHeld: false });
    expect(r.commands[0]).toEqual([{ type: 'setRate', rate: 2 }]);
  });

  it('follows the player when it stops at the end', () => {
    const playing = run([{ type: 'l' }, { type: 'l' }]).state;
    const stopped = syncFromPlayer(playing, false, 2);
    expect(shuttle(stopped, { type: 'l' }).commands).toEqual([{ type: 'setRate', rate: 1 }, { type: 'play' }]);
  });
});
