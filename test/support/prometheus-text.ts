/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: throws on
 * anything a Prometheus server would reject or misread (bad names, bad escapes, samples without a
 * TYPE, duplicate series, histogram buckets that are not cumulative or disagree with _count).
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parsePrometheusText(text: string): PromSample[] {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const seen = new Set<string>();
  const samples: PromSample[] = [];
  text.split('\n').forEach((line, index) => {
    const fail = (why: string): never => {
      throw new Error(`line ${index + 1} (${JSON.stringify(line)}): ${why}`);
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) return; // a plain comment
      const [, kind, name, rest] = match;
      if (!METRIC_NAME.test(name)) fail('bad metric name');
      if (kind === 'HELP') {
        if (helps.has(name)) fail('second HELP');
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) fail('bad escape in HELP');
        helps.add(name);
      } else {
        if (types.has(name)) fail('second TYPE');
        if (!TYPES.has(rest)) fail(`unknown type ${rest}`);
        if (samples.some((s) => familyOf(s.name, types) === name)) fail('TYPE after its samples');
        types.set(name, rest);
      }
      return;
    }
    const sample = parseSample(line, fail);
    if (!familyOf(sample.name, types)) fail('sample without a TYPE line for its family');
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}}`;
    if (seen.has(key)) fail('duplicate series');
    seen.add(key);
    samples.push(sample);
  });
  checkHistograms(samples, types);
  return samples;
}

function familyOf(sampleName: string, types: Map<string, string>): string | undefined {
  for (const [family, type] of types) {
    if (SUFFIXES[type].some((suffix) => sampleName === family + suffix)) return family;
  }
  return undefined;
}

function parseSample(line: string, fail: (why: string) => never): PromSample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) fail('bad metric name');
  const name = nameMatch![0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const label = /^([^=]*)="((?:[^"\\\n]|\\["\\n])*)"(,?)/.exec(rest);
      if (!label) fail('bad label set');
      const [whole, labelName, raw, comma] = label!;
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) fail(`bad label name ${labelName}`);
      if (labelName in labels) fail(`label ${labelName} twice`);
      labels[labelName] = raw.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(whole.length);
      if (!comma && !rest.startsWith('}')) fail('labels must be separated by commas');
    }
    rest = rest.slice(1);
  }
  const value = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!value) fail('expected " <value>[ <timestamp>]"');
  const text = value![1];
  return { name, labels, value: parseValue(text, fail) };
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any letter case; prom-client writes `Nan`. */
function parseValue(text: string, fail: (why: string) => never): number {
  if (/^nan$/i.test(text)) return NaN;
  const infinity = /^([+-]?)inf(inity)?$/i.exec(text);
  if (infinity) return infinity[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) fail(`bad value ${text}`);
  return Number(text);
}

function checkHistograms(samples: PromSample[], types: Map<string, string>): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
    const keyOf = (labels: Record<string, string>) =>
      JSON.stringify(
        Object.entries(labels)
          .filter(([k]) => k !== 'le')
          .sort(),
      );
    for (const s of samples) {
      if (s.name !== `${family}_bucket` && s.name !== `${family}_count`) continue;
      const entry = series.get(keyOf(s.labels)) ?? { buckets: [] };
      series.set(keyOf(s.labels), entry);
      if (s.name === `${family}_count`) entry.count = s.value;
      else {
        if (s.labels.le === undefined) throw new Error(`${family}_bucket without le`);
        entry.buckets.push([s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]);
      }
    }
    for (const [key, { buckets, count }] of series) {
      for (let i = 1; i < buckets.length; i++) {
        if (buckets[i][0] <= buckets[i - 1][0] || buckets[i][1] < buckets[i - 1][1])
          throw new Error(`${family}${key}: buckets not cumulative`);
      }
      const last = buckets[buckets.length - 1];
      if (!last || last[0] !== Infinity || last[1] !== count)
        throw new Error(`${family}${key}: the +Inf bucket must equal _count`);
    }
  }
}

/** The value of one series (labels must match exactly); undefined when absent. */
export function sampleValue(samples: PromSample[], name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
