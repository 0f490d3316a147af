/**
 * The one encoder and decoder for every API and version, driven by the compiled schemas (schema.ts;
 * the comment there explains why this replaces one hand-written codec per version).
 *
 * Flexible versions (KIP-482) switch strings, bytes and arrays to their compact forms (unsigned
 * varint length + 1, 0 for null) and end every struct with a tagged-field section: an unsigned varint
 * count, then per field its tag, its size and its bytes, in ascending tag order. A tagged field is
 * written only when it differs from its default, as Kafka's generated code does; unknown tags are
 * skipped on read (their size says how far), which is what lets newer clients talk to us.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../../errors.ts';
import { requestElementsMax, taggedFieldsMax } from './limits.ts';
import { Reader } from './reader.ts';
import { type Plan, type PlanField, type PrimitiveType, primitiveMinBytes } from './schema.ts';
import { Writer } from './writer.ts';

export type Message = Record<string, unknown>;

// ---- decoding -------------------------------------------------------------------------------------

/** Per-message decoding state: the element budget that bounds what one frame can make us allocate. */
interface DecodeBudget {
  elementsLeft: number;
}

/**
 * Decodes one message body. Throws INVALID_REQUEST on anything malformed: a truncated field, a
 * length that claims more than the frame holds, a null where none is allowed, more array elements in
 * total than `requestElementsMax`, or more than `taggedFieldsMax` tagged fields in one struct. Each
 * count is checked before anything is allocated for it. An int64 beyond the safe-integer range is
 * valid input, decoded as its field's `beyondSafe` says (schema.ts), never an error.
 */
export function decodeMessage(r: Reader, plan: Plan, elementsMax = requestElementsMax): Message {
  return decodeStruct(r, plan, { elementsLeft: elementsMax });
}

function decodeStruct(r: Reader, plan: Plan, budget: DecodeBudget): Message {
  const o: Message = {};
  for (const f of plan.fields) o[f.name] = decodeField(r, f, plan.flexible, budget);
  for (const f of plan.absent) o[f.name] = f.makeDefault();
  if (plan.flexible) {
    for (const f of plan.tagged) o[f.name] = f.makeDefault();
    decodeTaggedFields(r, plan, o, budget);
  }
  return o;
}

function decodeTaggedFields(r: Reader, plan: Plan, o: Message, budget: DecodeBudget): void {
  const count = r.uvarint();
  // Each tagged field takes at least two bytes (its tag and its size); Kafka also caps the count.
  if (count > taggedFieldsMax || count * 2 > r.remaining())
    throw new BrokerError('INVALID_REQUEST', `tagged field count ${count} too large`);
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    const size = r.uvarint();
    r.need(size, 'tagged field');
    const f = plan.tagged.find((t) => t.tag === tag);
    if (!f) {
      r.skip(size);
      continue;
    }
    // Decode inside the field's declared size, so a field cannot read into what follows it.
    const end = r.pos + size;
    const sub = new Reader(r.buf, r.pos, end);
    o[f.name] = decodeField(sub, f, true, budget);
    if (sub.pos !== end)
      throw new BrokerError('INVALID_REQUEST', `tagged field ${f.name} has trailing bytes`);
    r.pos = end;
  }
}

function decodeField(r: Reader, f: PlanField, flexible: boolean, budget: DecodeBudget): unknown {
  switch (f.kind) {
    case 'array': {
      const elem = f.elem as PrimitiveType;
      const n = r.arrayLength(flexible, f.nullable, primitiveMinBytes(elem, flexible));
      if (n === null) return null;
      spend(budget, n);
      const a = new Array(n);
      for (let i = 0; i < n; i++) a[i] = decodePrimitive(r, elem, false, flexible, f.beyondSafe);
      return a;
    }
    case 'structArray': {
      const plan = f.struct as Plan;
      const n = r.arrayLength(flexible, f.nullable, Math.max(1, plan.minBytes));
      if (n === null) return null;
      spend(budget, n);
      const a = new Array(n);
      for (let i = 0; i < n; i++) a[i] = decodeStruct(r, plan, budget);
      return a;
    }
    case 'struct':
      if (f.nullable && r.int8() < 0) return null;
      return decodeStruct(r, f.struct as Plan, budget);
    default:
      return decodePrimitive(r, f.kind, f.nullable, flexible, f.beyondSafe);
  }
}

function spend(budget: DecodeBudget, n: number): void {
  budget.elementsLeft -= n;
  if (budget.elementsLeft < 0) {
    throw new BrokerError('INVALID_REQUEST', `message holds more than the allowed number of array elements`);
  }
}

function decodePrimitive(
  r: Reader,
  t: PrimitiveType,
  nullable: boolean,
  flexible: boolean,
  beyondSafe: 'saturate' | 'bigint',
): unknown {
  switch (t) {
    case 'int8':
      return r.int8();
    case 'bool':
      return r.bool();
    case 'int16':
      return r.int16();
    case 'uint16':
      return r.uint16();
    case 'int32':
      return r.int32();
    case 'uint32':
      return r.uint32();
    case 'int64': {
      const v = r.int64Wide();
      if (typeof v === 'number' || beyondSafe === 'bigint') return v;
      return v > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
    }
    case 'float64':
      return r.float64();
    case 'uuid':
      return r.uuid();
    case 'string':
      return flexible ? r.compactString(nullable) : r.string(nullable);
    case 'bytes':
    case 'records':
      return flexible ? r.compactBytes(nullable) : r.bytes(nullable);
  }
}

// ---- encoding -------------------------------------------------------------------------------------

/**
 * Encodes one message body into `w`. A field missing from `msg` (undefined) is written as its
 * default, so handlers may leave out fields such as `throttleTimeMs`. A null where the version does
 * not allow one, or a value of the wrong type, is a programmer error and fails an assertion.
 */
export function encodeMessage(w: Writer, plan: Plan, msg: Message): void {
  encodeStruct(w, plan, msg, '');
}

function encodeStruct(w: Writer, plan: Plan, o: Message, path: string): void {
  assert.ok(o !== null && typeof o === 'object', `${path || 'message'} must be an object`);
  for (const f of plan.fields) {
    const v = o[f.name];
    encodeField(w, f, v === undefined ? f.makeDefault() : v, plan.flexible, path + f.name);
  }
  if (!plan.flexible) return;
  const present: [PlanField, unknown][] = [];
  for (const f of plan.tagged) {
    const v = o[f.name];
    if (v !== undefined && !isDefault(f, v)) present.push([f, v]);
  }
  w.uvarint(present.length);
  for (const [f, v] of present) {
    const sub = new Writer(256);
    encodeField(sub, f, v, true, path + f.name);
    w.uvarint(f.tag as number);
    w.uvarint(sub.length);
    w.append(sub);
  }
}

function isDefault(f: PlanField, v: unknown): boolean {
  return isDeepEqual(v, f.makeDefault());
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => isDeepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length &&
      ka.every((k) => isDeepEqual((a as Message)[k], (b as Message)[k]))
    );
  }
  return false;
}

function encodeField(w: Writer, f: PlanField, v: unknown, flexible: boolean, path: string): void {
  if (v === null) {
    assert.ok(f.nullable, `${path} is null but not nullable in this version`);
  }
  switch (f.kind) {
    case 'array': {
      if (v === null) {
        writeNullLength(w, flexible);
        return;
      }
      assert.ok(Array.isArray(v), `${path} must be an array`);
      writeLength(w, v.length, flexible);
      for (const x of v) encodePrimitive(w, f.elem as PrimitiveType, x, false, flexible, path);
      return;
    }
    case 'structArray': {
      if (v === null) {
        writeNullLength(w, flexible);
        return;
      }
      assert.ok(Array.isArray(v), `${path} must be an array`);
      writeLength(w, v.length, flexible);
      for (let i = 0; i < v.length; i++) encodeStruct(w, f.struct as Plan, v[i], `${path}[${i}].`);
      return;
    }
    case 'struct':
      if (f.nullable) {
        w.int8(v === null ? -1 : 1);
        if (v === null) return;
      }
      encodeStruct(w, f.struct as Plan, v as Message, `${path}.`);
      return;
    default:
      encodePrimitive(w, f.kind, v, f.nullable, flexible, path);
  }
}

function writeLength(w: Writer, n: number, flexible: boolean): void {
  if (flexible) w.uvarint(n + 1);
  else w.int32(n);
}

function writeNullLength(w: Writer, flexible: boolean): void {
  if (flexible) w.uvarint(0);
  else w.int32(-1);
}

function encodePrimitive(
  w: Writer,
  t: PrimitiveType,
  v: unknown,
  nullable: boolean,
  flexible: boolean,
  path: string,
): void {
  switch (t) {
    case 'int8':
      w.int8(checkInt(v, -128, 127, path));
      return;
    case 'bool':
      assert.equal(typeof v, 'boolean', `${path} must be a boolean`);
      w.bool(v as boolean);
      return;
    case 'int16':
      w.int16(checkInt(v, -32768, 32767, path));
      return;
    case 'uint16':
      w.uint16(checkInt(v, 0, 65535, path));
      return;
    case 'int32':
      w.int32(checkInt(v, -2147483648, 2147483647, path));
      return;
    case 'uint32':
      w.uint32(checkInt(v, 0, 4294967295, path));
      return;
    case 'int64':
      // A bigint is an exact value a request carried (a `beyondSafe: 'bigint'` field) echoed back.
      if (typeof v === 'bigint') w.int64Big(v);
      else w.int64(checkInt(v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, path));
      return;
    case 'float64':
      assert.equal(typeof v, 'number', `${path} must be a number`);
      w.float64(v as number);
      return;
    case 'uuid':
      w.uuid(v as string);
      return;
    case 'string':
      assert.ok(v === null || typeof v === 'string', `${path} must be a string`);
      assert.ok(v !== null || nullable, `${path} is null but not nullable in this version`);
      if (flexible) w.compactString(v as string | null);
      else w.string(v as string | null);
      return;
    case 'bytes':
    case 'records':
      assert.ok(v === null || v instanceof Uint8Array, `${path} must be a Buffer`);
      assert.ok(v !== null || nullable, `${path} is null but not nullable in this version`);
      if (flexible) w.compactBytes(v as Uint8Array | null);
      else w.bytes(v as Uint8Array | null);
      return;
  }
}

/** Asserts that a value about to be written is an integer in its field's range (a handler bug if not). */
function checkInt(v: unknown, min: number, max: number, path: string): number {
  assert.ok(
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max,
    `${path} must be an integer in [${min}, ${max}], got ${String(v)}`,
  );
  return v as number;
}
