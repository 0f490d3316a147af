/**
 * Declarative, versioned message schemas: our TypeScript description of what Kafka's message JSON
 * files (apache/kafka `clients/src/main/resources/common/message/*.json`) say, and the compiler that
 * turns one into a per-version plan for the codec (codec.ts).
 *
 * Why a schema and not one hand-written file per version (STYLE.md suggests the latter, after
 * kafkajs and @platformatic/kafka): the 18 APIs we serve span about 120 request versions and as many
 * response versions, and most versions differ from their neighbour by one field or by the switch to
 * flexible encoding. Hand-written per-version codecs repeat each field a dozen times, and a mistake
 * in one copy (a field in the wrong order, a missed compact length) hides until a particular client
 * picks that version. Kafka itself generates its codecs from these schemas for the same reason. Here
 * each field is written once with its version range, the codec is written once, and a property test
 * round-trips every version of every API (test/kafka/codec-roundtrip.test.ts) while kafkajs's own
 * encoders check the bytes (test/kafka/kafkajs-golden.test.ts). Each API still has its own file under
 * apis/ with the Kafka grammar in its header comment, so a reader finds the wire format in one place.
 *
 * Field names are the JSON names in camelCase; a decoded message is a plain object with one property
 * per field that exists in *any* version, so handlers see one shape whatever version a client speaks:
 * fields absent from the decoded version hold their default, as Kafka's generated classes do.
 */
import assert from 'node:assert/strict';
import { zeroUuid } from './reader.ts';

export type PrimitiveType =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint16'
  | 'uint32'
  | 'float64'
  | 'bool'
  | 'uuid'
  | 'string'
  | 'bytes'
  | 'records';

/**
 * A version range as Kafka's JSON writes it: `"3+"` (3 and later), `"0-7"`, `"5"` (only 5) or
 * `"none"`.
 */
export type Versions = string;

export interface FieldOptions {
  /** Versions in which the value may be null (Kafka's `nullableVersions`). */
  nullable?: Versions;
  /** Tag number, for a tagged field (Kafka's `tag`). */
  tag?: number;
  /** Versions in which the field is tagged (Kafka's `taggedVersions`); requires `tag`. */
  tagged?: Versions;
  /** Default when absent from a version (Kafka's `default`); otherwise 0, '', false, [] or null. */
  default?: number | string | boolean | null;
  /**
   * For an int64 field: what a decoded value beyond JavaScript's safe-integer range (|v| >= 2^53)
   * becomes. Kafka accepts any int64, so such a value never fails the request (issue 10).
   * - `'saturate'` (the default): the nearest safe integer, `Number.MAX_SAFE_INTEGER` or its
   *   negative. For offsets, timestamps and sizes this gives the answer the exact value would: no
   *   log holds an offset or timestamp that large (records/batch.ts keeps them as numbers), so the
   *   saturated value is out of range, newer than every record or longer than any retention, as the
   *   real one is.
   * - `'bigint'`: the exact value as a bigint, for a field whose value must not change (a committed
   *   offset is stored as sent, or refused; a producer id is an identity). The decoded type becomes
   *   `number | bigint`, so the compiler makes each handler decide.
   */
  beyondSafe?: 'saturate' | 'bigint';
}

export interface FieldSpec extends FieldOptions {
  name: string;
  /** A primitive, `'[]'` + primitive for an array of primitives, or 'struct' / '[]struct'. */
  type: PrimitiveType | `[]${PrimitiveType}` | 'struct' | '[]struct';
  versions: Versions;
  fields?: readonly FieldSpec[];
}

export interface MessageSpec {
  /** Kafka's message name, e.g. `ProduceRequest`. */
  name: string;
  apiKey: number;
  /** The versions this schema describes (Kafka's `validVersions`). */
  validVersions: Versions;
  /** Versions using compact types and tagged fields (Kafka's `flexibleVersions`, KIP-482). */
  flexibleVersions: Versions;
  fields: readonly FieldSpec[];
}

type ScalarType = PrimitiveType | `[]${PrimitiveType}`;

/** A scalar or primitive-array field. The literal types are kept so that `MessageValue` can type it. */
export function field<
  const N extends string,
  const T extends ScalarType,
  const O extends FieldOptions = Record<never, never>,
>(name: N, type: T, versions: Versions, opts?: O): { name: N; type: T; versions: Versions } & O {
  return { name, type, versions, ...(opts as O) };
}

/** An array of structs (Kafka's `"type": "[]SomeName"` with nested `fields`). */
export function structs<
  const N extends string,
  const F extends readonly FieldSpec[],
  const O extends FieldOptions = Record<never, never>,
>(
  name: N,
  versions: Versions,
  fields: F,
  opts?: O,
): { name: N; type: '[]struct'; versions: Versions; fields: F } & O {
  return { name, type: '[]struct', versions, fields, ...(opts as O) };
}

/** A single nested struct (Kafka's `"type": "SomeName"` with nested `fields`). */
export function struct<
  const N extends string,
  const F extends readonly FieldSpec[],
  const O extends FieldOptions = Record<never, never>,
>(
  name: N,
  versions: Versions,
  fields: F,
  opts?: O,
): { name: N; type: 'struct'; versions: Versions; fields: F } & O {
  return { name, type: 'struct', versions, fields, ...(opts as O) };
}

/** Declares a message; the identity function, there to keep the literal types of the fields. */
export function message<const M extends MessageSpec>(m: M): M {
  return m;
}

// ---- the TypeScript shape of a decoded message ------------------------------------------------------

type PrimitiveValue<T> = T extends 'bool'
  ? boolean
  : T extends 'uuid' | 'string'
    ? string
    : T extends 'bytes' | 'records'
      ? Buffer
      : number;

type Int64Value<F> = F extends { beyondSafe: 'bigint' } ? number | bigint : number;

type OrNull<F, V> = F extends { nullable: string } ? V | null : F extends { default: null } ? V | null : V;

type FieldValue<F> = F extends { type: '[]struct'; fields: infer S extends readonly FieldSpec[] }
  ? OrNull<F, StructValue<S>[]>
  : F extends { type: 'struct'; fields: infer S extends readonly FieldSpec[] }
    ? OrNull<F, StructValue<S>>
    : F extends { type: `[]${infer P}` }
      ? OrNull<F, PrimitiveValue<P>[]>
      : F extends { type: 'int64' }
        ? OrNull<F, Int64Value<F>>
        : F extends { type: infer P }
          ? OrNull<F, PrimitiveValue<P>>
          : never;

export type StructValue<S extends readonly FieldSpec[]> = { [F in S[number] as F['name']]: FieldValue<F> };

/**
 * The object a decoder returns for a message schema: one property per field of any version. Records
 * and bytes are `Buffer`s, int64 values are numbers (safe integers; `number | bigint` for a field
 * declared `beyondSafe: 'bigint'`), UUIDs are 8-4-4-4-12 strings.
 */
export type MessageValue<M extends MessageSpec> = StructValue<M['fields']>;

/** Parses a version range into inclusive bounds; `"none"` is the empty range. */
export function parseVersions(v: Versions): [number, number] {
  if (v === 'none') return [1, 0];
  let m = /^(\d+)\+$/.exec(v);
  if (m) return [Number(m[1]), Number.POSITIVE_INFINITY];
  m = /^(\d+)-(\d+)$/.exec(v);
  if (m) return [Number(m[1]), Number(m[2])];
  m = /^(\d+)$/.exec(v);
  if (m) return [Number(m[1]), Number(m[1])];
  throw new Error(`bad version range ${JSON.stringify(v)}`);
}

export function inVersions(v: Versions | undefined, version: number): boolean {
  if (v === undefined) return false;
  const [lo, hi] = parseVersions(v);
  return version >= lo && version <= hi;
}

// ---- compiled plans -------------------------------------------------------------------------------

export type Kind = PrimitiveType | 'array' | 'struct' | 'structArray';

/** One field as it is encoded in one particular version. */
export interface PlanField {
  name: string;
  kind: Kind;
  /** For 'array': the element type. */
  elem?: PrimitiveType;
  /** For 'struct' and 'structArray': the nested plan. */
  struct?: Plan;
  nullable: boolean;
  tag?: number;
  /** Fresh default value (a new object for arrays and structs). */
  makeDefault: () => unknown;
  /** Fewest bytes the field can take on the wire in this version (0 for tagged fields). */
  minBytes: number;
  /** For 'int64' (and '[]int64'): what a value beyond the safe-integer range decodes to. */
  beyondSafe: 'saturate' | 'bigint';
}

export interface Plan {
  flexible: boolean;
  /** Fields in wire order, excluding tagged ones. */
  fields: PlanField[];
  /** Tagged fields, by ascending tag. */
  tagged: PlanField[];
  /** Fields of the schema absent from this version, filled with their default when decoding. */
  absent: PlanField[];
  /** Fewest bytes the struct can take: the sum of its fields, plus one for an empty tag section. */
  minBytes: number;
}

/** The fewest bytes one value of a primitive type takes on the wire (bounds array counts before reading). */
export function primitiveMinBytes(t: PrimitiveType, flexible: boolean): number {
  switch (t) {
    case 'int8':
    case 'bool':
      return 1;
    case 'int16':
    case 'uint16':
      return 2;
    case 'int32':
    case 'uint32':
      return 4;
    case 'int64':
    case 'float64':
      return 8;
    case 'uuid':
      return 16;
    case 'string':
      return flexible ? 1 : 2;
    case 'bytes':
    case 'records':
      return flexible ? 1 : 4;
  }
}

function primitiveDefault(f: FieldSpec, t: PrimitiveType): () => unknown {
  const d = f.default;
  if (d === null) return () => null;
  switch (t) {
    case 'bool':
      return d === undefined ? () => false : () => d === true || d === 'true';
    case 'string': {
      const s = d === undefined ? '' : String(d);
      return () => s;
    }
    case 'uuid':
      return () => zeroUuid;
    case 'bytes':
      return () => Buffer.alloc(0);
    case 'records':
      return () => null;
    default: {
      const n = d === undefined ? 0 : Number(d);
      assert.ok(Number.isFinite(n), `default of ${f.name} is not a number`);
      return () => n;
    }
  }
}

function compileField(f: FieldSpec, version: number, flexible: boolean): PlanField {
  const nullable = inVersions(f.nullable, version);
  const tagged = inVersions(f.tagged, version);
  assert.ok(
    !tagged || (f.tag !== undefined && flexible),
    `${f.name}: tagged fields need a tag and a flexible version`,
  );
  assert.ok(
    f.beyondSafe === undefined || f.type === 'int64' || f.type === '[]int64',
    `${f.name}: beyondSafe applies to int64 fields only`,
  );
  const beyondSafe = f.beyondSafe ?? 'saturate';
  let pf: PlanField;
  if (f.type === 'struct' || f.type === '[]struct') {
    assert.ok(f.fields, `${f.name}: a struct needs fields`);
    const plan = compileStruct(f.fields, version, flexible);
    if (f.type === 'struct') {
      pf = {
        name: f.name,
        kind: 'struct',
        struct: plan,
        // A nullable struct is preceded by an int8: -1 for null, 1 for a value (Kafka's generator).
        nullable,
        makeDefault: f.default === null ? () => null : () => defaultStruct(plan),
        minBytes: nullable ? 1 : plan.minBytes,
        beyondSafe,
      };
    } else {
      pf = {
        name: f.name,
        kind: 'structArray',
        struct: plan,
        nullable,
        makeDefault: f.default === null ? () => null : () => [],
        minBytes: flexible ? 1 : 4,
        beyondSafe,
      };
    }
  } else if (f.type.startsWith('[]')) {
    pf = {
      name: f.name,
      kind: 'array',
      elem: f.type.slice(2) as PrimitiveType,
      nullable,
      makeDefault: f.default === null ? () => null : () => [],
      minBytes: flexible ? 1 : 4,
      beyondSafe,
    };
  } else {
    const t = f.type as PrimitiveType;
    pf = {
      name: f.name,
      kind: t,
      nullable,
      makeDefault: primitiveDefault(f, t),
      minBytes: primitiveMinBytes(t, flexible),
      beyondSafe,
    };
  }
  if (tagged) {
    pf.tag = f.tag;
    pf.minBytes = 0;
  }
  return pf;
}

/** The object whose every field holds its default; what a decoder produces for an absent struct. */
export function defaultStruct(plan: Plan): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of plan.fields) o[f.name] = f.makeDefault();
  for (const f of plan.tagged) o[f.name] = f.makeDefault();
  for (const f of plan.absent) o[f.name] = f.makeDefault();
  return o;
}

function compileStruct(specs: readonly FieldSpec[], version: number, flexible: boolean): Plan {
  const fields: PlanField[] = [];
  const tagged: PlanField[] = [];
  const absent: PlanField[] = [];
  const seen = new Set<string>();
  for (const f of specs) {
    const present = inVersions(f.versions, version);
    // A name may appear twice with disjoint ranges (e.g. a field that moved); keep the live one.
    if (!present) {
      if (!specs.some((g) => g !== f && g.name === f.name && inVersions(g.versions, version))) {
        absent.push(compileField(f, version, flexible));
      }
      continue;
    }
    assert.ok(!seen.has(f.name), `field ${f.name} is present twice in version ${version}`);
    seen.add(f.name);
    const pf = compileField(f, version, flexible);
    if (pf.tag !== undefined) tagged.push(pf);
    else fields.push(pf);
  }
  tagged.sort((a, b) => (a.tag as number) - (b.tag as number));
  for (let i = 1; i < tagged.length; i++) assert.ok(tagged[i].tag !== tagged[i - 1].tag, 'duplicate tag');
  const minBytes = fields.reduce((n, f) => n + f.minBytes, 0) + (flexible ? 1 : 0);
  return { flexible, fields, tagged, absent, minBytes };
}

/** A message schema compiled for each of its versions. */
export interface CompiledMessage {
  spec: MessageSpec;
  minVersion: number;
  maxVersion: number;
  isFlexible(version: number): boolean;
  plan(version: number): Plan;
}

/**
 * A message's versions, each compiled into its plan on first use: compiling all of them for every API
 * took about 20 ms of the broker's start, and a client uses one or two versions of each.
 */
export function compileMessage(spec: MessageSpec): CompiledMessage {
  const [minVersion, maxVersion] = parseVersions(spec.validVersions);
  assert.ok(Number.isFinite(maxVersion), `${spec.name}: validVersions must be bounded`);
  const plans: Plan[] = [];
  return {
    spec,
    minVersion,
    maxVersion,
    isFlexible: (v) => inVersions(spec.flexibleVersions, v),
    plan(v) {
      assert.ok(v >= minVersion && v <= maxVersion, `${spec.name} has no version ${v}`);
      plans[v] ??= compileStruct(spec.fields, v, inVersions(spec.flexibleVersions, v));
      return plans[v];
    },
  };
}
