/**
 * Generates docs/limits.md from the limits modules (issue 10, "Done means"): every exported bound with
 * its value, unit, config key and what happens at it, read from the module's own TSDoc so that the
 * document cannot drift from the code. `npm run docs:limits` rewrites the file; test/limits-doc.test.ts
 * fails when the committed file differs from what this would write, or when a bound lacks its comment.
 *
 * A bound is an `export const nameUnit = value` in a `limits.ts` module under src/, preceded by a TSDoc
 * comment. Tags read from the comment: `@default` (the value as people write it; otherwise the
 * module's value is printed) and `@config key` (the config key that moves it, if any).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SCHEMA } from '../src/config/schema.ts';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const limitsDocPath = path.join(root, 'docs', 'limits.md');

export interface Bound {
  module: string;
  name: string;
  value: unknown;
  unit: string;
  configKey: string | null;
  doc: string;
}

/** Every `limits.ts` under src/, relative to the root, in a stable order. */
export function limitsModules(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'limits.ts') out.push(path.relative(root, p));
    }
  };
  walk(path.join(root, 'src'));
  return out.sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

const unitSuffixes: [RegExp, string][] = [
  [/Bytes$/, 'bytes'],
  [/Ms$/, 'milliseconds'],
  [/Ticks$/, 'ticks'],
  [/Percent$/, 'percent'],
];

/** The unit a name ends with (before Max/Min/Default), or `count`. */
export function unitOf(name: string): string {
  const base = name.replace(/(Max|Min|Default)$/, '');
  for (const [re, unit] of unitSuffixes) if (re.test(base)) return unit;
  // `bytesPerWriteMax`: a byte count per something.
  if (/^bytes|Bytes/.test(base)) return 'bytes';
  return 'count';
}

/** The documented exports of one module's source, in source order: name, comment text, tags. */
export function parseBounds(source: string): { name: string; doc: string; configKey: string | null }[] {
  const out: { name: string; doc: string; configKey: string | null }[] = [];
  // A TSDoc comment (no `*/` inside it) right before the export.
  const re = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export const (\w+)\b/g;
  const documented = new Set<string>();
  for (let m = re.exec(source); m; m = re.exec(source)) {
    // Tags run to the end of their line (`@default 1 MiB`); the rest is the description.
    const text = m[1].split('\n').map((l) => l.replace(/^\s*\*\s?/, '').trim());
    const configKey = text.map((l) => /@config\s+(\S+)/.exec(l)?.[1]).find((k) => k !== undefined) ?? null;
    const doc = text
      .map((l) => l.replace(/@(config|default)\b.*$/, ''))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    out.push({ name: m[2], doc, configKey });
    documented.add(m[2]);
  }
  for (const m of source.matchAll(/^export const (\w+)\b/gm)) {
    if (!documented.has(m[1])) out.push({ name: m[1], doc: '', configKey: null });
  }
  return out;
}

export async function collectBounds(): Promise<Bound[]> {
  const bounds: Bound[] = [];
  for (const module of limitsModules()) {
    const source = readFileSync(path.join(root, module), 'utf8');
    const values = (await import(pathToFileURL(path.join(root, module)).href)) as Record<string, unknown>;
    for (const b of parseBounds(source)) {
      const value = values[b.name];
      if (typeof value !== 'number' && typeof value !== 'bigint') continue;
      bounds.push({ module, name: b.name, value, unit: unitOf(b.name), configKey: b.configKey, doc: b.doc });
    }
  }
  return bounds;
}

function formatValue(value: unknown, unit: string): string {
  if (typeof value !== 'number') return String(value);
  const plain = value.toLocaleString('en-US');
  if (unit === 'bytes' && value >= 1024) {
    for (const [size, name] of [
      [1024 ** 3, 'GiB'],
      [1024 ** 2, 'MiB'],
      [1024, 'KiB'],
    ] as const) {
      if (value % size === 0) return `${plain} (${value / size} ${name})`;
    }
  }
  if (unit === 'milliseconds' && value >= 60_000 && value % 1000 === 0) {
    const s = value / 1000;
    const human = s % 86_400 === 0 ? `${s / 86_400} d` : s % 3600 === 0 ? `${s / 3600} h` : `${s / 60} min`;
    return `${plain} (${human})`;
  }
  return plain;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function renderLimitsDoc(bounds: Bound[]): string {
  const lines = [
    '# Limits',
    '',
    'Every bound of the broker: its name in the code, its unit, its value, the config key that moves it',
    '(if any) and what happens at it. Generated from the limits modules by `npm run docs:limits`; a test',
    'fails when this file and the code disagree, so edit the TSDoc comment in the module, not this file.',
    '',
  ];
  for (const module of [...new Set(bounds.map((b) => b.module))]) {
    lines.push(
      `## \`${module}\``,
      '',
      '| bound | unit | value | config key | what it is, and what happens at it |',
    );
    lines.push('|---|---|---|---|---|');
    for (const b of bounds.filter((x) => x.module === module)) {
      lines.push(
        `| \`${b.name}\` | ${b.unit} | ${formatValue(b.value, b.unit)} | ${b.configKey ? `\`${b.configKey}\`` : '—'} | ${cell(b.doc)} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    '## Settings with bounds (`src/config/schema.ts`)',
    '',
    'A value outside its range stops the broker at start with exit code 2 and a message naming the key,',
    'the value and the range (README, "Two commands").',
    '',
    '| key | default | allowed | what it is |',
    '|---|---|---|---|',
  );
  for (const spec of SCHEMA) {
    const k = spec.kind;
    let allowed: string;
    if (k.type === 'int') allowed = `${k.min.toLocaleString('en-US')} to ${k.max.toLocaleString('en-US')}`;
    else if (k.type === 'duration')
      allowed = `${k.minMs.toLocaleString('en-US')} ms to ${k.maxMs.toLocaleString('en-US')} ms`;
    else continue;
    lines.push(`| \`${spec.key}\` | ${cell(String(spec.default))} | ${allowed} | ${cell(spec.doc)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

if (import.meta.main) {
  const text = renderLimitsDoc(await collectBounds());
  writeFileSync(limitsDocPath, text);
  process.stdout.write(`wrote ${path.relative(root, limitsDocPath)}\n`);
}
