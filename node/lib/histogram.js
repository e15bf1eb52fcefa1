// Latency histograms as looplab stores them (`reports/src/histogram.rs`): HdrHistogram's V2
// format, deflated (cookie 0x1c849314), then standard base64. Values are microseconds, tracked
// from 1 µs to one hour with 3 significant digits, as looplab's batch tally does; a value above
// the range is recorded at its top (like `saturating_record`).
'use strict';

const zlib = require('node:zlib');

const LOWEST = 1;
const HIGHEST = 3_600_000_000;
const DIGITS = 3;
// The bucket layout of those bounds: 2 * 10^3 needs 11 bits of sub-buckets.
const SUB_BUCKET_COUNT_MAGNITUDE = Math.ceil(Math.log2(2 * 10 ** DIGITS));
const SUB_BUCKET_COUNT = 2 ** SUB_BUCKET_COUNT_MAGNITUDE;
const SUB_BUCKET_HALF_COUNT = SUB_BUCKET_COUNT / 2;
const V2_COOKIE = 0x1c849313;
const V2_DEFLATE_COOKIE = 0x1c849314;

/** The index in HdrHistogram's counts array of a value (unit magnitude 0). */
function countsIndex(value) {
  const bits = value.toString(2).length;
  const bucket = Math.max(0, bits - SUB_BUCKET_COUNT_MAGNITUDE);
  const subBucket = Math.floor(value / 2 ** bucket);
  return (bucket + 1) * SUB_BUCKET_HALF_COUNT + (subBucket - SUB_BUCKET_HALF_COUNT);
}

/** Counts of recorded microsecond values. */
class Histogram {
  constructor() {
    this.counts = new Map();
    this.total = 0;
  }

  record(us) {
    const value = Math.min(HIGHEST, Math.max(LOWEST, Math.floor(us)));
    const index = countsIndex(value);
    this.counts.set(index, (this.counts.get(index) || 0) + 1);
    this.total += 1;
  }

  /** The V2 payload: ZigZag LEB128 counts, a run of zeros written as its negated length. */
  payload() {
    const indices = [...this.counts.keys()].sort((a, b) => a - b);
    const bytes = [];
    let next = 0;
    for (const index of indices) {
      if (index > next) pushZigZag(bytes, -(index - next));
      pushZigZag(bytes, this.counts.get(index));
      next = index + 1;
    }
    return Buffer.from(bytes);
  }

  /** HdrHistogram V2, deflated, base64: what `looplab_reports::histogram::decode` reads. */
  encodeBase64() {
    const payload = this.payload();
    const v2 = Buffer.alloc(40 + payload.length);
    v2.writeUInt32BE(V2_COOKIE, 0);
    v2.writeUInt32BE(payload.length, 4);
    v2.writeUInt32BE(0, 8); // normalizing index offset
    v2.writeUInt32BE(DIGITS, 12);
    v2.writeBigUInt64BE(BigInt(LOWEST), 16);
    v2.writeBigUInt64BE(BigInt(HIGHEST), 24);
    v2.writeDoubleBE(1.0, 32); // integer to double conversion ratio
    payload.copy(v2, 40);
    const deflated = zlib.deflateSync(v2);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(V2_DEFLATE_COOKIE, 0);
    head.writeUInt32BE(deflated.length, 4);
    return Buffer.concat([head, deflated]).toString('base64');
  }
}

/** Appends `n` (a safe integer) ZigZag-encoded as LEB128, as HdrHistogram's V2 does. */
function pushZigZag(bytes, n) {
  let z = n >= 0 ? BigInt(n) * 2n : BigInt(-n) * 2n - 1n;
  do {
    let byte = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (z > 0n);
}

module.exports = { Histogram, countsIndex, HIGHEST };
