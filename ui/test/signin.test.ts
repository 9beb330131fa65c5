// Sign-in and sign-out: the form's rules (pure), the store against the mock backend, and the
// dialog in the mounted app driven with clicks and keys.
import { afterEach, describe, expect, it } from 'vitest';
import { flushSync, mount, unmount } from 'svelte';
import App from '../src/App.svelte';
import { MOCK_SIGN_IN_SECRET, MockBackend } from '../src/lib/backend-mock';
import { countdown, emptyForm, formProblem, signInKeyAction, switchPlatform, toRequest } from '../src/lib/signin';
import { Session } from '../src/stores/session.svelte';
import { MemoryStorage, settle, until } from './helpers';

describe('the sign-in form', () => {
  it('starts each platform on its usual way in, with its cloud address where it has one', () => {
    expect(emptyForm('kitsu')).toMatchObject({ method: 'password', baseUrl: '' });
    expect(emptyForm('iconik')).toMatchObject({ method: 'key', baseUrl: 'https://app.iconik.io' });
    expect(emptyForm('moxion')).toMatchObject({ method: 'device', baseUrl: 'https://api.moxion.io' });
    expect(emptyForm('sony_ci')).toMatchObject({ method: 'password', baseUrl: 'https://api.cimediacloud.com' });
  });

  it('keeps a typed address and login name across platforms but never a secret', () => {
    const typed = { ...emptyForm('kitsu'), baseUrl: 'https://k.example/api', user: 'ann@example.com', password: 'pw', eventsUrl: 'https://k.example' };
    const flex = switchPlatform(typed, 'flex');
    expect(flex).toMatchObject({ platform: 'flex', baseUrl: 'https://k.example/api', user: 'ann@example.com', password: '', eventsUrl: '' });
    const iconik = switchPlatform(emptyForm('moxion'), 'iconik');
    expect(iconik).toMatchObject({ method: 'key', baseUrl: 'https://app.iconik.io' });
    expect(switchPlatform(iconik, 'moxion')).toMatchObject({ method: 'key', baseUrl: 'https://api.moxion.io' });
  });

  it('says what is missing before anything is sent', () => {
    const f = emptyForm('kitsu');
    expect(formProblem(f)).toBe('Type the server address.');
    expect(formProblem({ ...f, baseUrl: 'kitsu.example.com/api' })).toMatch(/must start with https:\/\//);
    expect(formProblem({ ...f, baseUrl: 'http://127.0.0.1:5000/api' })).toBe('Type your e-mail.');
    expect(formProblem({ ...f, baseUrl: 'http://127.0.0.1:5000/api', user: 'a@b' })).toBe('Type your password.');
    expect(formProblem({ ...f, baseUrl: 'http://127.0.0.1:5000/api', user: 'a@b', password: 'x', eventsUrl: 'nope' })).toMatch(/events address/);
    expect(formProblem({ ...f, baseUrl: 'http://127.0.0.1:5000/api', user: 'a@b', password: 'x' })).toBeNull();
    const key = emptyForm('iconik');
    expect(formProblem(key)).toBe('Type the App-ID.');
    expect(formProblem({ ...key, keyId: 'app' })).toBe('Type the Auth token.');
    expect(formProblem(emptyForm('moxion'))).toBeNull();
  });

  it('builds the request the shell takes, trimmed, the events address only for Kitsu', () => {
    const f = { ...emptyForm('kitsu'), baseUrl: ' https://k/api ', user: ' ann@example.com ', password: ' pw ', eventsUrl: ' ', label: '' };
    expect(toRequest(f)).toEqual({
      platform: 'kitsu',
      baseUrl: 'https://k/api',
      credentials: { kind: 'password', user: 'ann@example.com', password: ' pw ' },
      label: null,
      accountId: null,
      eventsUrl: null,
    });
    const k = { ...emptyForm('iconik'), keyId: ' app ', secret: ' tok ', eventsUrl: 'https://x' };
    expect(toRequest(k)).toMatchObject({ credentials: { kind: 'apiKey', keyId: 'app', secret: 'tok' }, eventsUrl: null });
  });

  it('submits on Enter from a field, never from a button or while busy; Escape closes', () => {
    expect(signInKeyAction('Enter', { tag: 'INPUT' }, false)).toBe('submit');
    expect(signInKeyAction('Enter', { tag: 'DIV' }, false)).toBe('submit');
    expect(signInKeyAction('Enter', { tag: 'BUTTON' }, false)).toBeNull();
    expect(signInKeyAction('Enter', { tag: 'INPUT' }, true)).toBeNull();
    expect(signInKeyAction('Escape', { tag: 'INPUT' }, true)).toBe('close');
    expect(signInKeyAction('l', { tag: 'INPUT' }, false)).toBeNull();
    expect(countdown(299.4)).toBe('4:59');
    expect(countdown(-3)).toBe('0:00');
  });
});

describe('the sign-in store', () => {
  const setup = async () => {
    const backend = new MockBackend({ renderPixels: false, taskTickMs: 5, deviceApprovalMs: 60 });
    const session = new Session(backend, new MemoryStorage());
    session.library.start = async () => {
      session.library.accounts = await backend.listAccounts();
    };
    await session.start();
    return { backend, session };
  };

  it('shows a refused password in the dialog and clears it for the next try', async () => {
    const { session } = await setup();
    const s = session.signIn;
    s.openAdd('kitsu');
    Object.assign(s.dialog!.form, { baseUrl: 'https://kitsu.example/api', user: 'ann@example.com', password: 'wrong' });
    await s.submit();
    expect(s.dialog?.error).toMatch(/did not accept/);
    expect(s.dialog?.form.password).toBe('');
    expect(s.dialog?.busy).toBe(false);
    s.dialog!.form.password = MOCK_SIGN_IN_SECRET;
    await s.submit();
    expect(s.dialog).toBeNull();
    const added = session.library.accounts.find((a) => a.platform === 'kitsu' && a.userName === 'ann@example.com');
    expect(added?.connection).toBe('online');
    expect(session.library.syncing[added!.id]).toBeDefined();
  });

  it('says when the server cannot be reached', async () => {
    const { session } = await setup();
    session.signIn.openAdd('flex');
    Object.assign(session.signIn.dialog!.form, { baseUrl: 'https://unreachable.example/api', user: 'ann', password: 'x' });
    await session.signIn.submit();
    expect(session.signIn.dialog?.error).toMatch(/Cannot reach/);
  });

  it('waits for a device code, and a cancel leaves the form open to try again', async () => {
    const { session, backend } = await setup();
    const s = session.signIn;
    s.openAdd('moxion');
    await s.submit();
    expect(s.dialog?.device?.userCode).toBe('WDJB-MJHT');
    await s.cancelDevice();
    expect(s.dialog?.device).toBeNull();
    await settle(6);
    expect((await backend.listAccounts()).some((a) => a.platform === 'moxion')).toBe(false);
    await s.submit();
    await until(() => expect(s.dialog).toBeNull());
    await until(() => expect(session.library.accounts.some((a) => a.platform === 'moxion')).toBe(true));
  });

  it('prefills signing in again with the account and keeps its name', async () => {
    const { session, backend } = await setup();
    backend.setConnection('kitsu-1', 'login_required');
    await session.signIn.openReauth('kitsu-1');
    const d = session.signIn.dialog!;
    expect(d.reauthName).toBe('kitsu.studio.example');
    expect(d.form).toMatchObject({ platform: 'kitsu', accountId: 'kitsu-1', user: 'Ada Reviewer', baseUrl: 'https://kitsu.studio.example/api' });
    session.signIn.setPlatform('iconik');
    expect(d.form.platform).toBe('kitsu');
    d.form.password = MOCK_SIGN_IN_SECRET;
    await session.signIn.submit();
    expect(session.library.account('kitsu-1')?.connection).toBe('online');
    expect(session.library.accounts.filter((a) => a.platform === 'kitsu')).toHaveLength(1);
  });

  it('refuses to sign out while a note waits, and signs out once nothing does', async () => {
    const { session, backend } = await setup();
    const acc = session.library.account('kitsu-1')!;
    backend.setConnection('kitsu-1', 'offline');
    const asset = (await backend.listAssets('kitsu-1', 'p1/e01/comp'))[0]!;
    await backend.createNote({ versionKey: asset.versionKey, text: 'keep me', frames: null, drawing: null, parentId: null, reviewStatus: null });
    session.signIn.askSignOut(acc);
    await session.signIn.confirmSignOut();
    expect(session.signIn.signOut?.error).toMatch(/would lose them/);
    expect(session.library.account('kitsu-1')).toBeDefined();
    session.signIn.cancelSignOut();
    const flex = session.library.accounts.find((a) => a.platform === 'flex')!;
    session.signIn.askSignOut(flex);
    await session.signIn.confirmSignOut();
    expect(session.signIn.signOut).toBeNull();
    expect(session.library.account(flex.id)).toBeUndefined();
  });
});

describe('the sign-in dialog in the window', () => {
  let mounted: Array<Record<string, unknown>> = [];
  afterEach(() => {
    for (const m of mounted) unmount(m);
    mounted = [];
    document.body.innerHTML = '';
  });

  const q = (root: ParentNode, css: string): HTMLElement | null => root.querySelector(css);
  const type = (el: HTMLElement | null, value: string): void => {
    const input = el as HTMLInputElement;
    input.value = value;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    flushSync();
  };
  const key = (target: EventTarget, k: string): void => {
    target.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));
    flushSync();
  };

  async function app() {
    const backend = new MockBackend({ renderPixels: false, outboxDelayMs: 40, taskTickMs: 10, deviceApprovalMs: 10_000 });
    const target = document.createElement('div');
    document.body.appendChild(target);
    const session = new Session(backend, new MemoryStorage());
    mounted.push(mount(App, { target, props: { backend, session } }));
    await until(() => expect(q(target, '[data-testid="frame-counter"]')?.textContent).toBe('1001'));
    return { target, session, backend };
  }

  it('adds a Kitsu account: wrong password shown in the dialog, Enter signs in, keys stay out of the player', async () => {
    const { target } = await app();
    q(target, '[data-testid="add-account"]')?.click();
    flushSync();
    const dialog = q(target, '[data-testid="signin-dialog"]');
    expect(dialog).not.toBeNull();
    q(target, '[data-platform="kitsu"]')?.click();
    flushSync();
    type(q(target, '[data-testid="signin-url"]'), 'https://kitsu.example/api');
    type(q(target, '[data-testid="signin-user"]'), 'ann@example.com');
    const password = q(target, '[data-testid="signin-password"]')!;
    type(password, 'wrong');
    // "l" would play forwards in the player; typed in the dialog it is just a letter.
    key(password, 'l');
    key(password, 'Enter');
    await until(() => expect(q(target, '[data-testid="signin-error"]')?.textContent).toMatch(/did not accept/));
    expect(q(target, '[data-testid="frame-counter"]')?.textContent).toBe('1001');
    type(q(target, '[data-testid="signin-password"]'), MOCK_SIGN_IN_SECRET);
    key(q(target, '[data-testid="signin-password"]')!, 'Enter');
    await until(() => expect(q(target, '[data-testid="signin-dialog"]')).toBeNull());
    await until(() => expect([...target.querySelectorAll('[data-testid="account"] .acc-title')].map((e) => e.textContent)).toContain('Kitsu — ann@example.com'));
  });

  it('shows a device code large with its page, and Escape cancels and closes', async () => {
    const { target, backend } = await app();
    q(target, '[data-testid="add-account"]')?.click();
    flushSync();
    q(target, '[data-platform="moxion"]')?.click();
    flushSync();
    q(target, '[data-testid="signin-submit"]')?.click();
    await until(() => expect(q(target, '[data-testid="signin-device-code"]')?.textContent).toBe('WDJB-MJHT'));
    expect(q(target, '[data-testid="signin-device-page"]')?.textContent).toMatch(/moxion\.io\/device/);
    expect(q(target, '[data-testid="signin-device"]')?.textContent).toMatch(/Waiting for approval/);
    const cancelled: string[] = [];
    backend.onSignInFinished((e) => cancelled.push(e.outcome.state));
    key(q(target, '[data-testid="signin-dialog"]')!, 'Escape');
    await settle();
    expect(q(target, '[data-testid="signin-dialog"]')).toBeNull();
    expect(cancelled).toEqual(['cancelled']);
  });

  it('offers "Sign in again" on an account whose session expired, and sign-out behind a confirmation', async () => {
    const { target, backend } = await app();
    backend.setConnection('kitsu-1', 'login_required');
    await settle();
    const row = q(target, '[data-account-id="kitsu-1"]')!;
    q(row, '[data-testid="account-reauth"]')?.click();
    await until(() => expect(q(target, '#signin-title')?.textContent).toMatch(/Sign in again to kitsu\.studio\.example/));
    expect((q(target, '[data-testid="signin-user"]') as HTMLInputElement).value).toBe('Ada Reviewer');
    key(q(target, '[data-testid="signin-dialog"]')!, 'Escape');
    flushSync();
    q(row, '[data-testid="account-menu"]')?.click();
    flushSync();
    q(target, '[data-testid="account-menu-signout"]')?.click();
    flushSync();
    expect(q(target, '[data-testid="signout-dialog"]')?.textContent).toMatch(/Notes still in the outbox are kept/);
    q(target, '[data-testid="signout-confirm"]')?.click();
    await until(() => expect(q(target, '[data-account-id="kitsu-1"]')).toBeNull());
  });
});
