// The committed bundle of the guest's Web APIs (src/sandbox/web-bundle.generated.ts) is what
// scripts/bundle-guest-web.mjs makes from src/sandbox/web today: nobody ships a stale copy.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without type declarations
import { bundleGuestWeb, OUTPUT } from '../../scripts/bundle-guest-web.mjs';

describe('the Web API bundle', () => {
  it('is current (run `npm run build` after changing src/sandbox/web)', async () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(await bundleGuestWeb());
  });
});
