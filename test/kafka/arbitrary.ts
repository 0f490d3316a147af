/**
 * fast-check generators driven by the compiled schemas: a random message for any API, version and
 * direction, and the object a decoder must return for it (absent fields filled with their defaults).
 */
import fc from 'fast-check';
import type { Plan, PlanField, PrimitiveType } from '../../src/protocol/kafka/schema.ts';

type Value = unknown;

function primitive(t: PrimitiveType): fc.Arbitrary<Value> {
  switch (t) {
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer({ min: -2147483648, max: 2147483647 });
    case 'uint32':
      return fc.integer({ min: 0, max: 4294967295 });
    case 'int64':
      return fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -2, max: 2 }));
    case 'float64':
      return fc.double({ noNaN: true });
    case 'bool':
      return fc.boolean();
    case 'uuid':
      return fc.uuid();
    case 'string':
      return fc.string({ unit: 'grapheme', maxLength: 12 });
    case 'bytes':
    case 'records':
      // Sizes on both sides of the writer's copy/reference threshold (512 bytes).
      return fc
        .oneof(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ minLength: 500, maxLength: 700 }))
        .map((a) => Buffer.from(a));
  }
}

/** An int64 that a number cannot hold exactly: |v| >= 2^53, as a bigint. */
export function beyondSafeInt64(): fc.Arbitrary<bigint> {
  return fc.oneof(
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 63n - 1n }),
    fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 53n) }),
    fc.constantFrom(2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n),
  );
}

function fieldArb(f: PlanField): fc.Arbitrary<Value> {
  let arb: fc.Arbitrary<Value>;
  switch (f.kind) {
    case 'array':
      arb = fc.array(primitive(f.elem as PrimitiveType), { maxLength: 3 });
      break;
    case 'structArray':
      arb = fc.array(structArb(f.struct as Plan), { maxLength: 2 });
      break;
    case 'struct':
      arb = structArb(f.struct as Plan);
      break;
    default:
      arb =
        f.kind === 'int64' && f.beyondSafe === 'bigint'
          ? fc.oneof(primitive('int64'), beyondSafeInt64())
          : primitive(f.kind);
  }
  return f.nullable ? fc.option(arb, { nil: null, freq: 4 }) : arb;
}

/** A random object holding exactly the fields that exist in the plan's version. */
export function structArb(plan: Plan): fc.Arbitrary<Record<string, Value>> {
  const model: Record<string, fc.Arbitrary<Value>> = {};
  for (const f of plan.fields) model[f.name] = fieldArb(f);
  if (plan.flexible) for (const f of plan.tagged) model[f.name] = fieldArb(f);
  return fc.record(model);
}

/** What decoding the encoding of `o` must give: `o` plus the defaults of absent fields, recursively. */
export function expectedDecoded(plan: Plan, o: Record<string, Value>): Record<string, Value> {
  const out: Record<string, Value> = {};
  const present = plan.flexible ? [...plan.fields, ...plan.tagged] : plan.fields;
  for (const f of present) {
    const v = o[f.name];
    if (v === null) out[f.name] = null;
    else if (f.kind === 'structArray')
      out[f.name] = (v as Record<string, Value>[]).map((x) => expectedDecoded(f.struct as Plan, x));
    else if (f.kind === 'struct') out[f.name] = expectedDecoded(f.struct as Plan, v as Record<string, Value>);
    else out[f.name] = v;
  }
  for (const f of plan.absent) out[f.name] = f.makeDefault();
  if (!plan.flexible) for (const f of plan.tagged) out[f.name] = f.makeDefault();
  return out;
}
