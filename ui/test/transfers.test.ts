// Pure helpers of the upload UI: units, file-name rules (the same cases as core's upload.rs),
// allowed buttons, queue progress, plan totals, pasted paths, drop-target resolution, dialog keys.
import { describe, expect, it } from 'vitest';
import type { PlannedFile, Transfer, UploadPlan } from '../src/lib/backend';
import { isTransientName, mediaKindOf, versionFromName, versionLabel } from '../src/lib/filenames';
import {
  dialogKeyAction,
  dropTargetFromElement,
  formatBytes,
  formatEta,
  formatSpeed,
  orderedPlanFiles,
  parsePathList,
  planTotals,
  queueProgress,
  sortTransfers,
  transferActions,
  upsertTransfer,
} from '../src/lib/transfers';

function transfer(id: string, over: Partial<Transfer> = {}): Transfer {
  return {
    id,
    accountId: 'a',
    nodeId: 'n',
    destinationLabel: 'Kitsu › P › Task',
    path: `/x/${id}.mov`,
    name: `${id}.mov`,
    size: 1000,
    bytesDone: 0,
    state: 'queued',
    speed: null,
    etaSeconds: null,
    error: null,
    assetId: null,
    watchFolderId: null,
    createdAt: '2025-11-22T10:00:00Z',
    ...over,
  };
}

function file(name: string, over: Partial<PlannedFile> = {}): PlannedFile {
  return { path: `/r/${name}`, name, size: 1_000_000, subfolder: [], versionHint: null, rejected: null, ...over };
}

function plan(files: PlannedFile[], rejected: string | null = null): UploadPlan {
  return { destination: { accountId: 'a', nodeId: 'n' }, destinationLabel: 'Kitsu › P › Task', takesComment: true, rejected, files };
}

describe('human units', () => {
  it('writes sizes in decimal units, one decimal below 10', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1500)).toBe('1.5 KB');
    expect(formatBytes(153_400_000)).toBe('153 MB');
    expect(formatBytes(2_400_000_000)).toBe('2.4 GB');
    expect(formatBytes(999_960)).toBe('1.0 MB');
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
  });

  it('writes speeds per second, and nothing when unknown', () => {
    expect(formatSpeed(28_000_000)).toBe('28 MB/s');
    expect(formatSpeed(512)).toBe('512 B/s');
    expect(formatSpeed(null)).toBe('');
  });

  it('writes time left the way people say it, rounding up', () => {
    expect(formatEta(0.2)).toBe('a second left');
    expect(formatEta(44.1)).toBe('45 s left');
    expect(formatEta(130)).toBe('2 min 10 s left');
    expect(formatEta(120)).toBe('2 min left');
    expect(formatEta(3900)).toBe('1 h 5 min left');
    expect(formatEta(7200)).toBe('2 h left');
    expect(formatEta(null)).toBe('');
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe('');
  });
});

describe('file names (as core upload.rs)', () => {
  it('reads media kinds from the extension', () => {
    expect(mediaKindOf('sh010_comp_v003.MOV')).toBe('movie');
    expect(mediaKindOf('plate.1001.exr')).toBe('image');
    expect(mediaKindOf('mix.wav')).toBe('audio');
    expect(mediaKindOf('notes.txt')).toBeNull();
    expect(mediaKindOf('README')).toBeNull();
    expect(mediaKindOf('archive.mov.zip')).toBeNull();
  });

  it('reads versions as artists write them', () => {
    expect(versionFromName('sh010_comp_v003.mov')).toBe(3);
    expect(versionFromName('SH010-V12.mp4')).toBe(12);
    expect(versionFromName('sh010.comp.v7.mov')).toBe(7);
    expect(versionFromName('v2.mov')).toBe(2);
    expect(versionFromName('sh010_v002_comp_v004.mov')).toBe(4);
    expect(versionFromName('preview.mov')).toBeNull();
    expect(versionFromName('sh010_dev3.mov')).toBeNull();
    expect(versionFromName('sh010_v3a.mov')).toBeNull();
    expect(versionFromName('sh010_v.mov')).toBeNull();
    expect(versionLabel(3)).toBe('v003');
  });

  it('knows temporary and hidden names', () => {
    for (const n of ['.DS_Store', '.sh010.mov.swp', 'sh010.mov.part', 'sh010.mov.crdownload', 'render.tmp', '~$notes.docx', 'sh010.mov~', 'Thumbs.db']) {
      expect(isTransientName(n), n).toBe(true);
    }
    for (const n of ['sh010_comp_v003.mov', 'plate.1001.exr', 'temp_grade.mov']) expect(isTransientName(n), n).toBe(false);
  });
});

describe('transfer states', () => {
  it('offers the buttons each state allows', () => {
    expect(transferActions('queued')).toEqual({ pause: true, resume: false, cancel: true, retry: false });
    expect(transferActions('running')).toEqual({ pause: true, resume: false, cancel: true, retry: false });
    expect(transferActions('paused')).toEqual({ pause: false, resume: true, cancel: true, retry: false });
    expect(transferActions('failed')).toEqual({ pause: false, resume: false, cancel: true, retry: true });
    expect(transferActions('cancelled')).toEqual({ pause: false, resume: false, cancel: false, retry: true });
    expect(transferActions('done')).toEqual({ pause: false, resume: false, cancel: false, retry: false });
  });

  it('sums overall progress over active transfers only', () => {
    const p = queueProgress([
      transfer('a', { state: 'running', size: 1000, bytesDone: 500, speed: 100 }),
      transfer('b', { state: 'running', size: 3000, bytesDone: 500, speed: 150 }),
      transfer('c', { state: 'paused', size: 1000, bytesDone: 0 }),
      transfer('d', { state: 'done', size: 9000, bytesDone: 9000 }),
      transfer('e', { state: 'failed', size: 9000, bytesDone: 10 }),
    ]);
    expect(p.active).toBe(3);
    expect(p.running).toBe(2);
    expect(p.failed).toBe(1);
    expect(p.bytesDone).toBe(1000);
    expect(p.bytesTotal).toBe(5000);
    expect(p.fraction).toBeCloseTo(0.2);
    expect(p.speed).toBe(250);
    expect(p.etaSeconds).toBeCloseTo(16);
    expect(queueProgress([transfer('x', { state: 'done' })]).fraction).toBeNull();
    expect(queueProgress([transfer('y', { state: 'paused' })]).etaSeconds).toBeNull();
  });

  it('orders running, queued, paused, failed, then history, and replaces rows by id', () => {
    const list = [transfer('1', { state: 'done' }), transfer('2', { state: 'queued' }), transfer('3', { state: 'running' }), transfer('4', { state: 'failed' }), transfer('5', { state: 'paused' })];
    expect(sortTransfers(list).map((t) => t.id)).toEqual(['3', '2', '5', '4', '1']);
    const next = upsertTransfer(list, transfer('2', { state: 'running', bytesDone: 10 }));
    expect(next).toHaveLength(5);
    expect(next[1]?.state).toBe('running');
    expect(list[1]?.state).toBe('queued');
    expect(upsertTransfer(list, transfer('6'))).toHaveLength(6);
  });
});

describe('upload plans', () => {
  it('counts what will be sent and what will not', () => {
    const t = planTotals(plan([file('a_v001.mov', { size: 2_000_000 }), file('b.mov', { size: 500_000 }), file('c.txt', { rejected: 'Not media' })]));
    expect(t).toMatchObject({ accepted: 2, rejected: 1, acceptedBytes: 2_500_000, canSend: true, sendLabel: 'Send 2 files' });
    expect(t.summary).toBe('2 files · 2.5 MB, 1 skipped');
    expect(planTotals(plan([file('a.mov')])).sendLabel).toBe('Send 1 file');
  });

  it('sends nothing when every file or the destination is refused', () => {
    expect(planTotals(plan([file('c.txt', { rejected: 'Not media' })]))).toMatchObject({ accepted: 0, canSend: false, sendLabel: 'Nothing to send' });
    const refused = planTotals(plan([file('a.mov'), file('b.mov')], 'Dalet Flex has no upload flow'));
    expect(refused).toMatchObject({ accepted: 0, rejected: 2, canSend: false });
    expect(planTotals(plan([])).summary).toBe('No files');
  });

  it('lists accepted files first, keeping the backend order within each group', () => {
    const p = plan([file('x.txt', { rejected: 'no' }), file('a.mov'), file('.b.part', { rejected: 'tmp' }), file('c.mov')]);
    expect(orderedPlanFiles(p).map((f) => f.name)).toEqual(['a.mov', 'c.mov', 'x.txt', '.b.part']);
  });

  it('reads pasted paths: one per line, quotes and file:// URIs undone, blanks and repeats dropped', () => {
    expect(parsePathList('  /a/b.mov \n\n"/c d/e.mov"\n/a/b.mov\nfile:///home/you/My%20Renders/x.mov\nfile:///C:/clips/y.mov\r\nrel/z.mov')).toEqual([
      '/a/b.mov',
      '/c d/e.mov',
      '/home/you/My Renders/x.mov',
      'C:/clips/y.mov',
      'rel/z.mov',
    ]);
    expect(parsePathList('   \n')).toEqual([]);
  });
});

describe('drop targets', () => {
  it('finds the tree row (account and node) under the pointer, from any element inside it', () => {
    document.body.innerHTML = `
      <li data-account-id="kitsu-1" data-testid="account">
        <div class="acc-row"><span id="acc">kitsu</span></div>
        <div class="row" data-account-id="kitsu-1" data-node-id="p1/e01/comp">
          <button data-node-id="p1/e01/comp"><svg><path id="icon"></path></svg><span id="label">Compositing</span></button>
        </div>
      </li>
      <div id="elsewhere"></div>`;
    const at = (id: string): Element | null => document.getElementById(id);
    expect(dropTargetFromElement(at('label'))).toEqual({ accountId: 'kitsu-1', nodeId: 'p1/e01/comp' });
    expect(dropTargetFromElement(at('icon'))).toEqual({ accountId: 'kitsu-1', nodeId: 'p1/e01/comp' });
    // An account header is not a node: no target (the node in view is used instead).
    expect(dropTargetFromElement(at('acc'))).toBeNull();
    expect(dropTargetFromElement(at('elsewhere'))).toBeNull();
    expect(dropTargetFromElement(null)).toBeNull();
    document.body.innerHTML = '';
  });
});

describe('upload dialog keys', () => {
  it('closes on Escape, sends on Enter outside buttons and text areas, checks stale typed paths first', () => {
    expect(dialogKeyAction('Escape', { tag: 'TEXTAREA', mod: false }, true)).toBe('close');
    expect(dialogKeyAction('Enter', { tag: 'DIV', mod: false }, true)).toBe('send');
    expect(dialogKeyAction('Enter', { tag: 'INPUT', mod: false }, true)).toBe('send');
    expect(dialogKeyAction('Enter', { tag: 'BUTTON', mod: false }, true)).toBeNull();
    expect(dialogKeyAction('Enter', { tag: 'textarea', mod: false }, true)).toBeNull();
    expect(dialogKeyAction('Enter', { tag: 'TEXTAREA', mod: true }, true)).toBe('send');
    expect(dialogKeyAction('Enter', { tag: 'TEXTAREA', mod: true }, false)).toBe('check');
    expect(dialogKeyAction('a', { tag: 'DIV', mod: false }, true)).toBeNull();
  });
});
