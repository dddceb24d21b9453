// Query of death: a guest that copies client input into a response header (a file name, a redirect
// target) must not take the node down when the input holds a newline, and the client's retry must
// not take down the survivor. A real pair of processes: the poisonous answer is a 500
// `guest_bad_response` on the primary, the same stored 500 on a retry, and again after failover.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, request, ROOT, startPair, status, tempDir, waitUntil, type Pair } from '../replication/helpers.js';

const PROGRAM = join(ROOT, 'test', 'fixtures', 'guests', 'poison.js');
let pair: Pair;

beforeAll(async () => {
  assertBuilt();
  // The product's timing is not under test here: a 2 s failure timeout keeps a loaded test machine
  // from calling a slow heartbeat a failure before the failover this test makes on purpose.
  pair = await startPair(await tempDir('poison'), { program: PROGRAM, failureTimeoutMs: 2000 });
}, 30_000);
afterAll(async () => {
  await pair?.kill();
});

async function get(url: string, path: string, key?: string) {
  const answer = await request(url, { path, headers: key ? { 'idempotency-key': key } : {}, timeoutMs: 5_000 });
  return { status: answer.status, body: answer.body.startsWith('{') ? JSON.parse(answer.body) : answer.body, headers: answer.headers };
}

const POISONS: Array<[string, RegExp]> = [
  ['/download?name=a%0D%0ASet-Cookie%3A%20session%3Dstolen', /header "content-disposition" has a value with a character HTTP forbids/],
  ['/redirect?to=%2Fhome%0Aevil', /header "location" has a value/],
  ['/download?name=%E2%82%AC', /past U\+00FF/], // a euro sign: node refuses it as ERR_INVALID_CHAR too
  ['/header-name?name=bad%20name', /header name "bad name" is not an HTTP token/],
  ['/header-name?name=', /header name "" is not an HTTP token/],
  ['/status?code=1000', /status must be an integer from 200 to 599, got 1000/],
  ['/status?code=101', /status must be an integer from 200 to 599, got 101/],
  ['/status?code=abc', /status must be an integer from 200 to 599, got null/],
];

describe('query of death', () => {
  it('each poisonous answer is a 500 guest_bad_response, and the primary keeps serving', async () => {
    const { url } = pair.primary;
    for (const [i, [path, message]] of POISONS.entries()) {
      const answer = await get(url, path, `poison-${i}`);
      expect(answer.status, path).toBe(500);
      expect(answer.body.error, path).toBe('guest_bad_response');
      expect(answer.body.message, path).toMatch(message);
      expect(answer.headers['set-cookie'], path).toBeUndefined();
      expect((await get(url, '/ok')).status, `after ${path}`).toBe(200);
    }
    expect(pair.primary.proc.alive).toBe(true);
    expect(pair.primary.proc.stderr).toMatch(/\[guest error\] \[lockstep\] guest_bad_response: request #\d+: header "content-disposition"/);
  });

  it('a clean answer of the same routes still goes out with its headers', async () => {
    const download = await get(pair.primary.url, '/download?name=report.pdf');
    expect(download.status).toBe(200);
    expect(download.headers['content-disposition']).toBe('attachment; filename="report.pdf"');
    const redirect = await get(pair.primary.url, '/redirect?to=%2Fhome');
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/home');
  });

  it('the retry of a poisonous request gets the stored 500, on the primary and after failover on the survivor', async () => {
    const retried = await get(pair.primary.url, POISONS[0]![0], 'poison-0');
    expect(retried.status).toBe(500);
    expect(retried.body.error).toBe('guest_bad_response');

    pair.primary.proc.signal('SIGKILL');
    await waitUntil(async () => (await status(pair.secondary.url))?.role === 'primary', 10_000, 'the secondary went live');
    const { url } = pair.secondary;
    const again = await get(url, POISONS[0]![0], 'poison-0');
    expect(again).toEqual({ ...retried, headers: expect.anything() });
    // A fresh poisonous request on the survivor, then an ordinary one: the survivor keeps serving.
    const fresh = await get(url, POISONS[1]![0], 'poison-fresh');
    expect(fresh.status).toBe(500);
    expect(fresh.body.error).toBe('guest_bad_response');
    const ok = await get(url, '/ok');
    expect(ok.status).toBe(200);
    expect(ok.body.served).toBe(POISONS.length + 1);
    expect(pair.secondary.proc.alive).toBe(true);
    expect(pair.secondary.proc.stderr).not.toMatch(/diverge/i);
  });
});
