// Per-frame authentication in isolation: tags, counters, keys, directions and the transcript.

import { describe, expect, it } from 'vitest';
import { ChannelForgedError } from '../../src/channel/errors.js';
import { openSession, TRAILER_BYTES, transcriptHash, type FrameSession } from '../../src/channel/frame-auth.js';
import { ChannelSecret } from '../../src/channel/secret.js';

const secret = ChannelSecret.random();
const transcript = transcriptHash(Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), Uint8Array.of(6));

function pair(primarySecret = secret, secondarySecret = secret, secondaryTranscript = transcript): { primary: FrameSession; secondary: FrameSession } {
  return {
    primary: openSession(primarySecret, transcript, 'primary', 'secondary-peer'),
    secondary: openSession(secondarySecret, secondaryTranscript, 'secondary', 'primary-peer'),
  };
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

function forged(open: () => unknown): ChannelForgedError {
  try {
    open();
  } catch (err) {
    expect(err).toBeInstanceOf(ChannelForgedError);
    expect((err as ChannelForgedError).code).toBe('LOCKSTEP_CHANNEL_FORGED');
    return err as ChannelForgedError;
  }
  throw new Error('the frame was accepted');
}

describe('frame sealing', () => {
  it('opens what the peer sealed, in order, both directions, with a 24-byte trailer', () => {
    const { primary, secondary } = pair();
    const frames = ['batch 1', 'heartbeat', 'batch 2'].map((m) => primary.sealer.seal(text(m)));
    expect(frames[0]!.length).toBe(text('batch 1').length + TRAILER_BYTES);
    expect(frames.map((f) => str(secondary.opener.open(f)))).toEqual(['batch 1', 'heartbeat', 'batch 2']);
    expect(str(primary.opener.open(secondary.sealer.seal(text('ack 2'))))).toBe('ack 2');
    expect(secondary.opener.opened).toBe(3);
    expect(primary.sealer.sealed).toBe(3);
  });

  it('refuses a frame whose message, counter or tag was altered by one bit', () => {
    const frame = pair().primary.sealer.seal(text('ack 7'));
    for (const index of [0, frame.length - TRAILER_BYTES, frame.length - 1]) {
      const altered = Buffer.from(frame);
      altered[index]! ^= 1;
      const error = forged(() => pair().secondary.opener.open(altered));
      expect(error.message).toMatch(/tag does not verify/);
    }
  });

  it('refuses a replayed frame and a frame that skips ahead (dropped or reordered)', () => {
    const { primary, secondary } = pair();
    const [f0, f1, f2] = ['a', 'b', 'c'].map((m) => primary.sealer.seal(text(m)));
    secondary.opener.open(f0!);
    expect(forged(() => secondary.opener.open(f0!)).message).toMatch(/expected frame #1 but got frame #0 again \(a replay\)/);
    expect(forged(() => secondary.opener.open(f2!)).message).toMatch(/expected frame #1 but got frame #2 \(frames dropped or reordered\)/);
    expect(str(secondary.opener.open(f1!))).toBe('b'); // a refused frame does not move the counter
  });

  it('refuses frames sealed with another secret or another handshake transcript', () => {
    const other = ChannelSecret.random();
    const wrongSecret = pair(other, secret);
    forged(() => wrongSecret.secondary.opener.open(wrongSecret.primary.sealer.seal(text('batch'))));
    const otherTranscript = transcriptHash(Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), Uint8Array.of(7)); // welcome differs
    const wrongTranscript = pair(secret, secret, otherTranscript);
    forged(() => wrongTranscript.secondary.opener.open(wrongTranscript.primary.sealer.seal(text('batch'))));
  });

  it('refuses a frame reflected back to its sender (each direction has its own key)', () => {
    const { primary } = pair();
    const mine = primary.sealer.seal(text('heartbeat'));
    forged(() => primary.opener.open(mine));
  });

  it('refuses a frame too short to hold a trailer, and a plain unsealed message', () => {
    const { secondary } = pair();
    expect(forged(() => secondary.opener.open(new Uint8Array(TRAILER_BYTES - 1))).message).toMatch(/too short/);
    forged(() => secondary.opener.open(text('an unsealed message that is long enough')));
  });

  it('derives a different transcript hash for any change in any handshake frame, including where frames split', () => {
    const base = transcriptHash(Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4));
    expect(transcriptHash(Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(5))).not.toEqual(base);
    expect(transcriptHash(Uint8Array.of(1), Uint8Array.of(2, 3), Uint8Array.of(4))).not.toEqual(base);
    expect(transcriptHash(Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4))).toEqual(base);
  });
});
